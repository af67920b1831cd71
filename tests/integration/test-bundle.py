#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""bundle show/list/set/delete: our own bundle and federated ones (PEM and SPIFFE)."""

import atexit
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, contains, eq, openssl, pem_blocks  # noqa: E402

TD = sigiltest.TRUST_DOMAIN


def make_ca(t, name, cn):
    """A self-signed EC P-256 CA certificate (PEM path) made by openssl."""
    key, crt = t.path(name + ".key"), t.path(name + ".pem")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-subj", "/CN=" + cn, "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", t=t).ok()
    return crt


def der_of(pem_text):
    body = "".join(l for l in pem_text.splitlines() if not l.startswith("-----"))
    return base64.b64decode(body)


def test_show_own_bundle(t):
    s = t.server()
    pem = s.bundle_pem()
    certs = pem_blocks(pem)
    eq(len(certs), 1, "one X.509 authority in a new server's bundle")
    crt = t.write("root.pem", certs[0])
    text = openssl("x509", "-in", crt, "-noout", "-text", t=t).ok().out
    contains(text, "CA:TRUE", "the root is a CA")
    contains(text, "Certificate Sign", "the root may sign certificates")
    contains(text, "URI:spiffe://%s" % TD, "the root names the trust domain")
    subj = openssl("x509", "-in", crt, "-noout", "-subject", "-issuer", t=t).ok().out.split("\n")
    eq(subj[0].split("=", 1)[1], subj[1].split("=", 1)[1], "self-signed: subject == issuer")
    openssl("verify", "-CAfile", crt, crt, t=t).ok()

    sp = s.bundle_spiffe()
    eq(sp["spiffe_sequence"], 1, "spiffe_sequence of a new server")
    eq(sp["spiffe_refresh_hint"], 300, "spiffe_refresh_hint")
    x5 = [k for k in sp["keys"] if k.get("use") == "x509-svid"]
    jw = [k for k in sp["keys"] if k.get("use") == "jwt-svid"]
    eq(len(x5) + len(jw), len(sp["keys"]), "every key is x509-svid or jwt-svid")
    eq(len(x5), 1, "one x509-svid key")
    eq(len(jw), 1, "one jwt-svid key")
    eq(base64.b64decode(x5[0]["x5c"][0]), der_of(certs[0]), "x5c is the PEM root")
    eq((jw[0]["kty"], jw[0]["crv"]), ("EC", "P-256"), "JWT key type")
    check(jw[0].get("kid"), "the JWT key has a kid")
    check("d" not in jw[0] and "d" not in x5[0], "no private key member in the bundle")
    r = s.cli("bundle", "show", "-format", "SPIFFE").ok()
    eq(json.loads(r.out), sp, "-format is case-insensitive")
    check(r.out.startswith("{\n    \"keys\""), "SPIFFE bundle indented by four spaces")

    j = s.cli("bundle", "show", output="json").ok().json()
    eq(j["trust_domain"], TD, "JSON trust_domain")
    eq([base64.b64decode(a["asn1"]) for a in j["x509_authorities"]], [der_of(certs[0])],
       "JSON x509_authorities")
    eq([a["key_id"] for a in j["jwt_authorities"]], [jw[0]["kid"]], "JSON jwt key_id")
    eq(j["sequence_number"], "1", "JSON sequence_number (int64 string)")
    eq(j["refresh_hint"], "300", "JSON refresh_hint")
    for args, match in [(["-format", "xml"], r"invalid -format"),
                        (["-id", TD], r"not defined: -id"),
                        (["extra"], r"unexpected argument")]:
        s.refuses("bundle", "show", *args, rc=2, match=match)


def test_federated_pem(t):
    s = t.server()
    eq(s.cli("bundle", "list").ok().out, "", "no federated bundles yet")
    eq(s.cli("bundle", "list", output="json").ok().json(),
       {"bundles": [], "next_page_token": ""}, "bundle list JSON when empty")
    p1 = make_ca(t, "partner1", "partner one")
    r = s.cli("bundle", "set", "-id", "spiffe://partner.test", "-path", p1).ok()
    eq(r.out, "bundle set.\n", "bundle set output")
    listed = s.cli("bundle", "list", "-id", "partner.test").ok().out
    eq(pem_blocks(listed), pem_blocks(open(p1).read()), "the stored bundle is the file's")
    full = s.cli("bundle", "list").ok().out
    check(full.startswith("*" * 40 + "\n* partner.test\n" + "*" * 40 + "\n"),
          "bundle list heads each bundle with its trust domain:\n" + full)

    # Replace it, with two certificates read from stdin.
    p2 = make_ca(t, "partner2", "partner two")
    p3 = make_ca(t, "partner3", "partner three")
    both = open(p2).read() + open(p3).read()
    s.cli("bundle", "set", "-id", "partner.test", input=both).ok()
    eq(pem_blocks(s.cli("bundle", "list", "-id", "partner.test").ok().out), pem_blocks(both),
       "bundle set replaces the bundle")
    j = s.cli("bundle", "list", "-id", "partner.test", output="json").ok().json()
    eq(j["trust_domain"], "partner.test", "JSON trust_domain")
    eq(len(j["x509_authorities"]), 2, "two authorities")
    # Our own bundle is unaffected.
    eq(len(pem_blocks(s.bundle_pem())), 1, "own bundle unchanged")

    r = s.cli("bundle", "delete", "-id", "partner.test").ok()
    eq(r.out, "bundle deleted.\n", "bundle delete output")
    s.refuses("bundle", "list", "-id", "partner.test",
              match=r"^Error: no federated bundle for trust domain 'partner.test'")
    s.refuses("bundle", "delete", "-id", "partner.test", match=r"NotFound")
    eq(s.cli("bundle", "list").ok().out, "", "no federated bundles left")


def admin_pb2():
    """sigil/admin_pb2, generated by protoc into a temp dir that is removed at exit."""
    d = tempfile.mkdtemp(prefix="sigil-admin-pb2-", dir="/tmp")
    atexit.register(shutil.rmtree, d, True)
    proto = os.path.join(sigiltest.SOURCE_DIR, "proto")
    subprocess.run(["protoc", "--python_out=" + d, "-I", proto,
                    os.path.join(proto, "sigil", "admin.proto")], check=True)
    sys.path.insert(0, d)
    from sigil import admin_pb2 as pb
    return pb


def test_federated_list_pages(t):
    """ListFederatedBundles pages by trust domain name; `bundle list` walks every page."""
    import grpc
    pb = admin_pb2()
    s = t.server()
    der = der_of(open(make_ca(t, "partner", "partner")).read())
    # More than the CLI's page of 100, on both sides of our own trust domain's name.
    names = sorted(["a%03d.test" % i for i in range(60)] + ["z%03d.test" % i for i in range(70)])
    with grpc.insecure_channel("unix:" + s.sock) as ch:
        def method(name, req, resp):
            return ch.unary_unary("/sigil.admin.v1.BundleAPI/" + name,
                                  request_serializer=req.SerializeToString,
                                  response_deserializer=resp.FromString)
        put = method("SetFederatedBundle", pb.SetFederatedBundleRequest, pb.Bundle)
        ls = method("ListFederatedBundles", pb.ListFederatedBundlesRequest,
                    pb.ListFederatedBundlesResponse)
        for n in reversed(names):
            put(pb.SetFederatedBundleRequest(bundle=pb.Bundle(
                trust_domain=n, x509_authorities=[pb.X509Authority(asn1=der)])))
        pages, token = [], ""
        while len(pages) < 10:
            r = ls(pb.ListFederatedBundlesRequest(page_size=50, page_token=token))
            pages.append([b.trust_domain for b in r.bundles])
            token = r.next_page_token
            if not token:
                break
        eq([len(p) for p in pages], [50, 50, 30], "pages of 50")
        eq(sum(pages, []), names, "every federated bundle once, by name, not our own")
        r = ls(pb.ListFederatedBundlesRequest(page_size=len(names)))
        eq((len(r.bundles), r.next_page_token), (len(names), ""),
           "a page that holds the rest is the last")
        r = ls(pb.ListFederatedBundlesRequest())
        eq((len(r.bundles), r.next_page_token), (len(names), ""), "page_size 0: the default")
        eq(list(r.bundles[0].x509_authorities[0].asn1), list(der), "the bundle's certificate")
        for req, what in [(pb.ListFederatedBundlesRequest(page_size=-1), "page_size"),
                          (pb.ListFederatedBundlesRequest(page_size=1001), "page_size"),
                          (pb.ListFederatedBundlesRequest(page_token="Not A Name"),
                           "invalid page token")]:
            try:
                ls(req)
                sigiltest.fail("ListFederatedBundles accepted %r" % req)
            except grpc.RpcError as e:
                eq(e.code(), grpc.StatusCode.INVALID_ARGUMENT, "status for %r" % req)
                contains(e.details(), what, "the refusal says why")
    j = s.cli("bundle", "list", output="json").ok().json()
    eq([b["trust_domain"] for b in j["bundles"]], names, "bundle list -output json: all pages")
    eq(j["next_page_token"], "", "bundle list -output json: no token left")
    out = s.cli("bundle", "list").ok().out
    eq([l[2:] for l in out.splitlines() if l.startswith("* ")], names,
       "bundle list: every page, one heading each")
    eq(len(pem_blocks(s.cli("bundle", "list", "-id", names[-1]).ok().out)), 1,
       "bundle list -id finds a bundle past the first page")


def test_federated_spiffe_format(t):
    s = t.server()
    other = t.server(name="other", trust_domain="other.test")
    their = other.cli("bundle", "show", "-format", "spiffe").ok().out
    path = t.write("other.json", their)
    j = s.cli("bundle", "set", "-id", "other.test", "-path", path, "-format", "spiffe",
              output="json").ok().json()
    eq(j["results"][0]["status"]["code"], 0, "bundle set JSON status")
    eq(j["results"][0]["bundle"]["trust_domain"], "other.test", "bundle set JSON bundle")
    got = json.loads(s.cli("bundle", "list", "-id", "other.test", "-format", "spiffe").ok().out)
    want = json.loads(their)
    eq(sorted(json.dumps(k, sort_keys=True) for k in got["keys"]),
       sorted(json.dumps(k, sort_keys=True) for k in want["keys"]),
       "the federated SPIFFE bundle keeps every key (X.509 and JWT)")
    # The PEM view of it is their X.509 root.
    eq(pem_blocks(s.cli("bundle", "list", "-id", "other.test").ok().out),
       pem_blocks(other.bundle_pem()), "PEM view of a SPIFFE-format federated bundle")
    # Two federated bundles are listed, each with its heading.
    s.cli("bundle", "set", "-id", "partner.test", "-path", make_ca(t, "p", "p")).ok()
    full = s.cli("bundle", "list").ok().out
    check("* other.test\n" in full and "* partner.test\n" in full, "both listed:\n" + full)
    jl = s.cli("bundle", "list", output="json").ok().json()
    eq(sorted(b["trust_domain"] for b in jl["bundles"]), ["other.test", "partner.test"],
       "bundle list JSON")
    j = s.cli("bundle", "delete", "-id", "spiffe://other.test", output="json").ok().json()
    eq(j["results"][0]["status"]["code"], 0, "bundle delete JSON status")
    eq(j["results"][0]["trust_domain"], "other.test", "bundle delete JSON trust_domain")


def test_own_trust_domain_refused(t):
    s = t.server()
    before = s.bundle_spiffe()
    p = make_ca(t, "evil", "evil")
    for td in (TD, "spiffe://" + TD):
        s.refuses("bundle", "set", "-id", td, "-path", p,
                  match=r"^Error: error setting federated bundle: rpc error: "
                        r"code = InvalidArgument")
        s.refuses("bundle", "delete", "-id", td, match=r"InvalidArgument")
    eq(s.bundle_spiffe(), before, "own bundle unchanged after refused set/delete")


def test_bad_bundle_files(t):
    s = t.server()
    ca = make_ca(t, "ok", "ok")
    key = t.path("ok.key")
    garbage = t.write("garbage", "garbage\n")
    empty = t.write("empty", "")
    trailing = t.write("trailing.pem", open(ca).read() + "trailing junk\n")
    truncated = t.write("truncated.pem", open(ca).read()[:200])
    nokeys = t.write("nokeys.json", json.dumps({"keys": []}))
    badjwk = t.write("badjwk.json", json.dumps({"keys": [{"kty": "EC", "use": "x509-svid"}]}))
    for path, fmt, match in [
            (key, "pem", r"not a CERTIFICATE"),
            (garbage, "pem", r"invalid PEM bundle"),
            (empty, "pem", r"."),
            (trailing, "pem", r"."),
            (truncated, "pem", r"."),
            (garbage, "spiffe", r"invalid SPIFFE bundle"),
            (ca, "spiffe", r"invalid SPIFFE bundle"),
            (nokeys, "spiffe", r"."),
            (badjwk, "spiffe", r"badjwk\.json"),
            (t.path("missing.pem"), "pem", r"missing\.pem")]:
        s.refuses("bundle", "set", "-id", "partner.test", "-path", path, "-format", fmt,
                  match=r"^Error: " + ("" if match == "." else ".*" + match))
    for args, match in [(["-path", ca], r"^Error: -id is required"),
                        (["-id", "BAD_TD", "-path", ca], r"invalid -id"),
                        (["-id", "partner.test", "-path", ca, "-format", "der"],
                         r"invalid -format")]:
        s.refuses("bundle", "set", *args, rc=2, match=match)
    s.refuses("bundle", "delete", rc=2, match=r"-id is required")
    s.refuses("bundle", "delete", "-id", "partner.test", "-mode", "delete", rc=2,
              match=r"not defined: -mode")
    eq(s.cli("bundle", "list").ok().out, "", "nothing was stored")


if __name__ == "__main__":
    sigiltest.main()
