#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""x509 mint: the SVID chains to `bundle show`, carries what it must, and is written safely."""

import base64
import calendar
import os
import re
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, contains, der_to_pem, eq, not_contains, openssl, pem_blocks  # noqa

TD = sigiltest.TRUST_DOMAIN
SID = "spiffe://%s/tool" % TD


def sections(out):
    """The three PEM sections of `x509 mint` text output."""
    m = re.fullmatch(r"X509-SVID:\n(.*?)\nPrivate key:\n(.*?)\nRoot CAs:\n(.*?)\n", out, re.S)
    check(m, "x509 mint output has X509-SVID, Private key and Root CAs sections:\n" + out)
    return m.group(1), m.group(2), m.group(3)


def not_after(t, pem_path):
    out = openssl("x509", "-in", pem_path, "-noout", "-enddate", t=t).ok().out.strip()
    return calendar.timegm(time.strptime(out.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT"))


def pubkey_of_cert(t, path):
    return openssl("x509", "-in", path, "-noout", "-pubkey", t=t).ok().out


def pubkey_of_key(t, path):
    return openssl("pkey", "-in", path, "-pubout", t=t).ok().out


def test_mint_text(t):
    s = t.server()
    now = int(time.time())
    r = s.cli("x509", "mint", "-spiffeID", SID).ok()
    eq(r.err, "", "stderr of x509 mint")
    svid, key, roots = sections(r.out)
    eq(len(pem_blocks(svid)), 1, "self-signed CA: the chain is the leaf alone")
    eq(len(pem_blocks(key, "PRIVATE KEY")), 1, "one PKCS#8 private key")
    eq(pem_blocks(roots), pem_blocks(s.bundle_pem()), "Root CAs are `bundle show`")
    leaf = t.write("leaf.pem", svid)
    keyp = t.write("key.pem", key)
    bundle = t.write("bundle.pem", s.bundle_pem())
    eq(openssl("verify", "-CAfile", bundle, leaf, t=t).ok().out, "%s: OK\n" % leaf,
       "openssl verify against bundle show")
    text = openssl("x509", "-in", leaf, "-noout", "-text", t=t).ok().out
    contains(text, "URI:%s" % SID, "URI SAN")
    check(re.search(r"Basic Constraints: critical\n\s+CA:FALSE", text), "CA:FALSE, critical")
    contains(text, "TLS Web Server Authentication, TLS Web Client Authentication", "EKUs")
    check(re.search(r"Key Usage: critical\n\s+Digital Signature\n", text),
          "key usage: digital signature only")
    not_contains(text, "DNS:", "no DNS SAN without -dns")
    eq(len(re.findall(r"URI:", text)), 1, "exactly one URI SAN")
    contains(text, "prime256v1", "default key type is P-256")
    eq(pubkey_of_cert(t, leaf), pubkey_of_key(t, keyp), "the key is the certificate's")
    na = not_after(t, leaf)
    check(now + 3600 - 5 <= na <= now + 3600 + 30, "default TTL 1h: notAfter %d, now %d"
          % (na, now))


def test_mint_dns_ttl_keytypes(t):
    s = t.server()
    bundle = t.write("bundle.pem", s.bundle_pem())
    now = int(time.time())
    r = s.cli("x509", "mint", "-spiffeID", SID, "-dns", "a.example.org", "-dns",
              "b.example.org", "-ttl", "10m").ok()
    leaf = t.write("leaf.pem", sections(r.out)[0])
    text = openssl("x509", "-in", leaf, "-noout", "-text", t=t).ok().out
    contains(text, "URI:%s, DNS:a.example.org, DNS:b.example.org" % SID, "SANs with -dns")
    na = not_after(t, leaf)
    check(now + 600 - 5 <= na <= now + 600 + 30, "-ttl 10m: notAfter %d, now %d" % (na, now))
    for kt, marker in [("ec-p384", "secp384r1"), ("rsa-2048", "Public-Key: (2048 bit)")]:
        r = s.cli("x509", "mint", "-spiffeID", SID, "-keyType", kt).ok()
        svid, key, _ = sections(r.out)
        leaf = t.write("leaf-%s.pem" % kt, svid)
        keyp = t.write("key-%s.pem" % kt, key)
        contains(openssl("x509", "-in", leaf, "-noout", "-text", t=t).ok().out, marker,
                 "-keyType %s" % kt)
        eq(pubkey_of_cert(t, leaf), pubkey_of_key(t, keyp), "%s key matches" % kt)
        openssl("verify", "-CAfile", bundle, leaf, t=t).ok()
    # A TTL beyond the CA's end is capped, with a note, and still succeeds.
    r = s.cli("x509", "mint", "-spiffeID", SID, "-ttl", "30d").ok()
    check(re.fullmatch(r'X509-SVID lifetime was capped shorter than specified ttl; '
                       r'expires "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\n', r.err),
          "capped-TTL note:\n%r" % r)
    leaf = t.write("capped.pem", sections(r.out)[0])
    check(not_after(t, leaf) <= not_after(t, bundle), "capped at the CA's notAfter")


def test_mint_write(t):
    s = t.server()
    out = t.path("out")
    os.mkdir(out)
    r = s.cli("x509", "mint", "-spiffeID", SID, "-write", out).ok()
    eq(r.out, "X509-SVID written to %s/svid.pem\nPrivate key written to %s/key.pem\n"
              "Root CAs written to %s/bundle.pem\n" % (out, out, out), "-write output")
    modes = {n: stat.S_IMODE(os.stat(os.path.join(out, n)).st_mode) for n in os.listdir(out)}
    eq(modes, {"svid.pem": 0o644, "key.pem": 0o600, "bundle.pem": 0o644}, "file modes")
    svid, key, bundle = (os.path.join(out, n) for n in ("svid.pem", "key.pem", "bundle.pem"))
    eq(pem_blocks(open(bundle).read()), pem_blocks(s.bundle_pem()), "bundle.pem")
    openssl("verify", "-CAfile", bundle, svid, t=t).ok()
    eq(pubkey_of_cert(t, svid), pubkey_of_key(t, key), "key.pem is svid.pem's key")
    first_key = open(key).read()
    # Writing again replaces the files (new key), keeping the modes.
    s.cli("x509", "mint", "-spiffeID", SID, "-write", out).ok()
    check(open(key).read() != first_key, "a second mint writes a new key")
    eq(stat.S_IMODE(os.stat(key).st_mode), 0o600, "key.pem still 0600")
    eq(sorted(os.listdir(out)), ["bundle.pem", "key.pem", "svid.pem"], "no temp files left")
    # JSON with -write names the paths.
    j = s.cli("x509", "mint", "-spiffeID", SID, "-write", out, output="json").ok().json()
    eq(j, {"x509_svid": svid, "private_key": key, "root_cas": bundle}, "-write JSON")
    s.refuses("x509", "mint", "-spiffeID", SID, "-write", t.path("missing-dir"),
              match=r"missing-dir")


def test_mint_json(t):
    s = t.server()
    j = s.cli("x509", "mint", "-spiffeID", SID, "-dns", "x.example.org",
              output="json").ok().json()
    eq(sorted(j), ["private_key", "root_cas", "x509_svid"], "JSON keys")
    leaf = t.write("leaf.pem", der_to_pem(base64.b64decode(j["x509_svid"][0])))
    roots = t.write("roots.pem", "".join(der_to_pem(base64.b64decode(x))
                                         for x in j["root_cas"]))
    eq(pem_blocks(open(roots).read()), pem_blocks(s.bundle_pem()), "JSON root_cas")
    openssl("verify", "-CAfile", roots, leaf, t=t).ok()
    der = t.write("key.der", base64.b64decode(j["private_key"]))
    pub = openssl("pkey", "-inform", "DER", "-in", der, "-pubout", t=t).ok().out
    eq(pub, pubkey_of_cert(t, leaf), "JSON private_key is the leaf's key (PKCS#8 DER)")
    contains(openssl("x509", "-in", leaf, "-noout", "-ext", "subjectAltName", t=t).ok().out,
             "DNS:x.example.org", "JSON leaf has the DNS SAN")


def test_mint_bad_input(t):
    s = t.server()
    for args, match in [
            ([], r"^Error: -spiffeID is required"),
            (["-spiffeID", "tool"], r"invalid -spiffeID"),
            (["-spiffeID", "spiffe://%s/a/./b" % TD], r"invalid -spiffeID"),
            (["-spiffeID", SID, "-ttl", "-1"], r"invalid -ttl"),
            (["-spiffeID", SID, "-ttl", "1.5h"], r"invalid -ttl"),
            (["-spiffeID", SID, "-keyType", "ec-p999"], r"invalid -keyType"),
            (["-spiffeID", SID, "-audience", "x"], r"not defined: -audience"),
            (["-spiffeID", SID, "-output", "xml"], r"-output")]:
        s.refuses("x509", "mint", *args, rc=2, match=match)
    for args, match in [
            (["-spiffeID", "spiffe://other.org/tool"], r"InvalidArgument.*trust domain"),
            (["-spiffeID", "spiffe://%s" % TD], r"InvalidArgument"),
            (["-spiffeID", SID, "-dns", "bad name"], r"InvalidArgument.*DNS name"),
            (["-spiffeID", SID, "-dns", "-leading.example.org"], r"DNS"),
            (["-spiffeID", SID, "-dns", "a" * 300], r"DNS")]:
        s.refuses("x509", "mint", *args,
                  match=r"^Error: unable to mint SVID: rpc error: code = " + match
                  if match.startswith("Inv") else r"^Error: .*" + match)


if __name__ == "__main__":
    sigiltest.main()
