#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""upstream_authority.disk: the CA is an intermediate of an upstream root made by openssl."""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, contains, eq, openssl, pem_blocks  # noqa: E402

TD = sigiltest.TRUST_DOMAIN
SID = "spiffe://%s/tool" % TD


def make_root(t, name, ca=True):
    key, crt = t.path(name + ".key"), t.path(name + ".pem")
    ext = (["-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign"] if ca else
           ["-addext", "basicConstraints=critical,CA:FALSE",
            "-addext", "keyUsage=critical,digitalSignature"])
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-subj", "/O=upstream/CN=" + name, "-days", "30",
            *ext, t=t).ok()
    return crt, key


def upstream(crt, key, bundle=None):
    d = {"cert_file_path": crt, "key_file_path": key}
    if bundle:
        d["bundle_file_path"] = bundle
    return {"upstream_authority": {"disk": d}}


def test_upstream_disk(t):
    root, key = make_root(t, "root")
    s = t.server(config=upstream(root, key))
    eq(pem_blocks(s.bundle_pem()), pem_blocks(open(root).read()),
       "bundle show holds the upstream root, and only it")
    sp = s.bundle_spiffe()
    eq([k["use"] for k in sp["keys"]].count("jwt-svid"), 1, "JWT authority still published")

    out = t.path("out")
    os.mkdir(out)
    s.cli("x509", "mint", "-spiffeID", SID, "-dns", "tool.example.org", "-write", out).ok()
    chain = pem_blocks(open(os.path.join(out, "svid.pem")).read())
    eq(len(chain), 2, "svid.pem holds the leaf and the intermediate")
    eq(pem_blocks(open(os.path.join(out, "bundle.pem")).read()), pem_blocks(open(root).read()),
       "bundle.pem is the upstream root")
    leaf, inter = t.write("leaf.pem", chain[0]), t.write("inter.pem", chain[1])
    r = openssl("verify", "-CAfile", root, "-untrusted", inter, leaf, t=t).ok()
    eq(r.out, "%s: OK\n" % leaf, "leaf verifies through the intermediate to the root")
    check(openssl("verify", "-CAfile", root, leaf, t=t).rc != 0,
          "the leaf does not verify without the intermediate")
    itext = openssl("x509", "-in", inter, "-noout", "-text", t=t).ok().out
    contains(itext, "CA:TRUE", "the intermediate is a CA")
    contains(itext, "URI:spiffe://%s" % TD, "the intermediate names the trust domain")
    eq(openssl("x509", "-in", inter, "-noout", "-issuer", t=t).ok().out.split("=", 1)[1],
       openssl("x509", "-in", root, "-noout", "-subject", t=t).ok().out.split("=", 1)[1],
       "the intermediate is issued by the upstream root")
    contains(openssl("x509", "-in", leaf, "-noout", "-text", t=t).ok().out,
             "URI:%s, DNS:tool.example.org" % SID, "leaf SANs")

    # JSON output carries the chain leaf first; a restart keeps the same root.
    j = s.cli("x509", "mint", "-spiffeID", SID, output="json").ok().json()
    eq(len(j["x509_svid"]), 2, "JSON chain length")
    eq(base64.b64decode(j["root_cas"][0]),
       base64.b64decode("".join(open(root).read().splitlines()[1:-1])), "JSON root_cas")
    s.restart()
    eq(pem_blocks(s.bundle_pem()), pem_blocks(open(root).read()), "root after restart")


def test_upstream_bundle_file(t):
    root, key = make_root(t, "root")
    other, _ = make_root(t, "other-root")
    roots = t.write("roots.pem", open(root).read() + open(other).read())
    s = t.server(config=upstream(root, key, roots))
    eq(pem_blocks(s.bundle_pem()), pem_blocks(open(roots).read()),
       "the bundle is bundle_file_path's roots")
    chain = pem_blocks(s.cli("x509", "mint", "-spiffeID", SID).ok().out)
    leaf, inter = t.write("leaf.pem", chain[0]), t.write("inter.pem", chain[1])
    openssl("verify", "-CAfile", roots, "-untrusted", inter, leaf, t=t).ok()


def test_bad_upstream_refused(t):
    root, key = make_root(t, "root")
    other, other_key = make_root(t, "other")
    leafish, leafish_key = make_root(t, "notca", ca=False)
    cases = [
        (upstream(root, other_key), "does not match its certificate"),
        (upstream(leafish, leafish_key), "not a CA"),
        (upstream(t.path("missing.pem"), key), "missing.pem"),
        ({"upstream_authority": {"disk": {"cert_file_path": root}}},
         "cert_file_path and key_file_path go together"),
    ]
    for i, (cfg, what) in enumerate(cases):
        s = t.server(start=False, name="bad%d" % i, config=cfg)
        s.spawn()
        rc, log = s.wait_exit()
        eq(rc, 1, "exit status with a bad upstream (%s); log:\n%s" % (what, log))
        check(not os.path.exists(s.sock), "no admin socket with a bad upstream (%s)" % what)
        check(what in log, "the log explains a bad upstream (%r):\n%s" % (what, log))


if __name__ == "__main__":
    sigiltest.main()
