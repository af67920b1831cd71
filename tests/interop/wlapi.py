# SPDX-License-Identifier: Apache-2.0
"""wlapi: what the interop tests share.

The interop tests start the real sigil-server and sigil-agent with the
integration harness (tests/integration/sigiltest.py and agenttest.py), register
an entry for the uid the test runs as, and then talk to the agent's Workload API
with a client that was not written here. This module adds: the rule for missing
client software (skip on a developer's machine, fail in CI), starting the
server/agent pair with one workload entry, DER/PEM helpers, and the checks of an
X.509-SVID done with the openssl command line.

Missing client software (python3-grpcio, python3-protobuf, python3-jwcrypto,
protoc, node, tests/interop/node_modules) makes a test skip (exit 77), unless
CI is set in the environment, SIGIL_INTEROP_REQUIRED=1, or meson passed
--interop-required (-Dinterop=enabled): then it fails, so a CI run never
passes by skipping.
"""

import base64
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import sigiltest  # noqa: E402
from agenttest import (SLOW, TD, Agent, agent_id_of_token, check, create_entry,  # noqa: E402
                       eq, fail, join_token)
from sigiltest import openssl  # noqa: E402

TD_ID = "spiffe://%s" % TD

# tests/interop/meson.build passes this flag with -Dinterop=enabled; take it out of argv
# before sigiltest.main() reads test names from there.
REQUIRED_FLAG = "--interop-required"
_required_flag = REQUIRED_FLAG in sys.argv
while REQUIRED_FLAG in sys.argv:
    sys.argv.remove(REQUIRED_FLAG)
SECURITY_HEADER = ("workload.spiffe.io", "true")


def required():
    """Whether missing client software is a failure rather than a skip."""
    return (_required_flag or bool(os.environ.get("CI")) or
            os.environ.get("SIGIL_INTEROP_REQUIRED") == "1")


def missing(what):
    """Client software is missing: fail in CI (or -Dinterop=enabled), skip elsewhere."""
    msg = "%s; run scripts/setup" % what
    if required():
        fail(msg + " (required: CI or -Dinterop=enabled)")
    sigiltest.skip(msg)


def start_workload(t, path="interop/client", hint="interop", selectors=None,
                   server_config=None):
    """A server, an agent attested with a join token, and one entry whose selector is
    the uid this test runs as (the client processes run as that uid too).

    Returns (server, agent, spiffe_id); the agent already holds the SVID."""
    s = t.server(config=server_config)
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    sid = "%s/%s" % (TD_ID, path)
    if selectors is None:
        selectors = ["unix:uid:%d" % os.getuid()]
    extra = ["-hint", hint] if hint else []
    create_entry(s, sid, agent_id_of_token(tok), selectors, extra=extra)
    a.wait_svids([sid], timeout=10)
    return s, a, sid


def start_without_identity(t):
    """A server and an agent, and no entry for anyone: callers have no identity."""
    s = t.server()
    a = Agent(t, s, join_token=join_token(s)).start()
    return s, a


def upstream_root_config(t):
    """A self-signed root made by openssl and the server config (upstream_authority.disk)
    that makes the server's CA an intermediate under it: SVID chains are then leaf +
    intermediate, and the bundle is the root."""
    crt, key = t.path("upstream-root.pem"), t.path("upstream-root.key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-subj", "/O=interop/CN=upstream root", "-days", "2",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign", t=t).ok()
    return crt, {"upstream_authority": {"disk": {"cert_file_path": crt, "key_file_path": key}}}


# ---- DER and PEM ----

def der_elements(buf, what):
    """Split concatenated DER into its top-level elements; fail on a truncated element
    or on trailing bytes. Every element must be a SEQUENCE (certificates are)."""
    out, i = [], 0
    while i < len(buf):
        check(buf[i] == 0x30, "%s: element at offset %d is not a SEQUENCE (tag 0x%02x)"
              % (what, i, buf[i]))
        check(i + 2 <= len(buf), "%s: truncated at offset %d" % (what, i))
        first = buf[i + 1]
        if first < 0x80:
            length, header = first, 2
        else:
            n = first & 0x7f
            check(1 <= n <= 4 and i + 2 + n <= len(buf), "%s: bad length at offset %d"
                  % (what, i))
            length, header = int.from_bytes(buf[i + 2:i + 2 + n], "big"), 2 + n
        end = i + header + length
        check(end <= len(buf), "%s: element at offset %d runs past the end" % (what, i))
        out.append(bytes(buf[i:end]))
        i = end
    return out


def der_children(elem):
    """The (tag, contents) of each element inside one DER SEQUENCE."""
    i = 2 if elem[1] < 0x80 else 2 + (elem[1] & 0x7f)
    out = []
    while i < len(elem):
        tag, first = elem[i], elem[i + 1]
        if first < 0x80:
            length, header = first, 2
        else:
            n = first & 0x7f
            length, header = int.from_bytes(elem[i + 2:i + 2 + n], "big"), 2 + n
        out.append((tag, elem[i + header:i + header + length]))
        i += header + length
    return out


def check_pkcs8(key_der):
    """The key is an unencrypted PKCS#8 PrivateKeyInfo: SEQUENCE { INTEGER 0,
    AlgorithmIdentifier, OCTET STRING } (not SEC1 or PKCS#1)."""
    elems = der_elements(key_der, "x509_svid_key")
    eq(len(elems), 1, "x509_svid_key is one DER element")
    kids = der_children(elems[0])
    check(len(kids) >= 3, "PKCS#8 has at least 3 members: %r" % kids)
    eq((kids[0][0], kids[0][1]), (0x02, b"\x00"), "PKCS#8 version INTEGER 0")
    eq(kids[1][0], 0x30, "PKCS#8 AlgorithmIdentifier is a SEQUENCE")
    eq(kids[2][0], 0x04, "PKCS#8 privateKey is an OCTET STRING")


def pem(der, kind="CERTIFICATE"):
    b64 = base64.b64encode(der).decode()
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (
        kind, "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)), kind)


def pem_to_ders(text, kind="CERTIFICATE"):
    return [base64.b64decode("".join(b.splitlines()[1:-1]))
            for b in sigiltest.pem_blocks(text, kind)]


def server_bundle_ders(server):
    """The server's X.509 authorities (`bundle show`), as DER."""
    ders = pem_to_ders(server.bundle_pem())
    check(ders, "the server's bundle has X.509 authorities")
    return ders


# ---- checks done with the openssl command line ----

def write_svid_files(t, name, chain, key_der, bundle):
    """Write leaf, intermediates, bundle (PEM) and the key (PKCS#8 PEM) of one SVID;
    returns a dict of the paths (inter is None when the chain is the leaf alone)."""
    paths = {"leaf": t.write(name + ".leaf.pem", pem(chain[0])),
             "inter": None,
             "bundle": t.write(name + ".bundle.pem", "".join(pem(c) for c in bundle)),
             "key": t.write(name + ".key.pem", pem(key_der, "PRIVATE KEY"), mode=0o600)}
    if len(chain) > 1:
        paths["inter"] = t.write(name + ".inter.pem", "".join(pem(c) for c in chain[1:]))
    return paths


def openssl_verify_svid(t, paths, spiffe_id):
    """`openssl verify` of the leaf against the bundle (intermediates untrusted), the
    URI SAN is exactly spiffe_id, and the private key belongs to the leaf."""
    argv = ["verify", "-x509_strict", "-CAfile", paths["bundle"]]
    if paths["inter"]:
        argv += ["-untrusted", paths["inter"]]
    r = openssl(*argv, paths["leaf"], t=t)
    check(r.rc == 0 and r.out.strip() == "%s: OK" % paths["leaf"],
          "openssl verify of the X.509-SVID:\n%r" % r)
    if paths["inter"]:
        r = openssl("verify", "-CAfile", paths["bundle"], paths["leaf"], t=t)
        check(r.rc != 0, "the leaf must not verify without its intermediates:\n%r" % r)

    r = openssl("x509", "-in", paths["leaf"], "-noout", "-ext", "subjectAltName", t=t).ok()
    uris = re.findall(r"URI:([^\s,]+)", r.out)
    eq(uris, [spiffe_id], "URI SANs of the leaf")

    r = openssl("x509", "-in", paths["leaf"], "-noout", "-ext", "basicConstraints", t=t).ok()
    check("CA:FALSE" in r.out, "the leaf is not a CA:\n%r" % r)

    cert_pub = openssl("x509", "-in", paths["leaf"], "-noout", "-pubkey", t=t).ok().out
    key_pub = openssl("pkey", "-in", paths["key"], "-pubout", t=t).ok().out
    check(cert_pub.startswith("-----BEGIN PUBLIC KEY-----"), "leaf public key: %r" % cert_pub)
    eq(key_pub, cert_pub, "public key of x509_svid_key vs the leaf's")


__all__ = ["HERE", "SLOW", "TD", "TD_ID", "SECURITY_HEADER", "check", "eq", "fail", "required",
           "missing", "start_workload", "start_without_identity", "upstream_root_config",
           "der_elements", "check_pkcs8", "pem", "pem_to_ders", "server_bundle_ders",
           "write_svid_files", "openssl_verify_svid"]
