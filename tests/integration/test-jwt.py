#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""jwt mint: tokens verified by python3-jwcrypto against `bundle show -format spiffe`.

Needs Debian's /usr/bin/python3 (python3-jwcrypto); skips (77) without it.
"""

import base64
import json
import os
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, eq  # noqa: E402

try:
    from jwcrypto import jwk, jws, jwt
except ImportError:
    jwk = None

TD = sigiltest.TRUST_DOMAIN
SID = "spiffe://%s/tool" % TD


def need_jwcrypto():
    if jwk is None:
        sigiltest.skip("python3-jwcrypto is not installed (run with /usr/bin/python3)")


def jwt_keyset(bundle):
    """The bundle's JWT authorities as a JWK Set jwcrypto understands.

    In a SPIFFE bundle "use" is "x509-svid" or "jwt-svid"; jwcrypto reads "use"
    as JOSE's sig/enc, so keep only the jwt-svid keys and drop the member.
    """
    keys = []
    for k in bundle["keys"]:
        if k.get("use") != "jwt-svid":
            continue
        k = dict(k)
        del k["use"]
        keys.append(k)
    check(keys, "the bundle has JWT authorities: %r" % bundle)
    return jwk.JWKSet.from_json(json.dumps({"keys": keys}))


def b64json(part):
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def verify(token, bundle):
    """Verify with jwcrypto; return (header, claims)."""
    t = jwt.JWT(jwt=token, key=jwt_keyset(bundle), algs=["ES256"])
    return json.loads(t.header), json.loads(t.claims)


def test_mint_and_verify(t):
    need_jwcrypto()
    s = t.server()
    bundle = s.bundle_spiffe()
    now = int(time.time())
    r = s.cli("jwt", "mint", "-spiffeID", SID, "-audience", "api.example.org").ok()
    eq(r.err, "", "stderr of jwt mint")
    check(r.out.endswith("\n") and r.out.count("\n") == 1, "the token alone on one line")
    token = r.out.strip()
    eq(token.count("."), 2, "compact JWS")
    header, claims = verify(token, bundle)
    eq(header["alg"], "ES256", "alg")
    kids = [k["kid"] for k in bundle["keys"] if k.get("use") == "jwt-svid"]
    check(header.get("kid") in kids, "kid %r is a bundle JWT authority %r"
          % (header.get("kid"), kids))
    eq(claims["sub"], SID, "sub")
    eq(claims["aud"] if isinstance(claims["aud"], str) else claims["aud"],
       "api.example.org", "aud (one audience)")
    check(now + 300 - 5 <= claims["exp"] <= now + 300 + 30, "default TTL 5m: exp %d, now %d"
          % (claims["exp"], now))
    check(abs(claims.get("iat", now) - now) <= 30, "iat is now")

    # Several audiences, a TTL.
    token = s.cli("jwt", "mint", "-spiffeID", SID, "-audience", "a", "-audience", "b",
                  "-ttl", "60").ok().out.strip()
    _, claims = verify(token, bundle)
    eq(sorted(claims["aud"]), ["a", "b"], "two audiences")
    check(now + 55 <= claims["exp"] <= now + 90, "-ttl 60: exp %d" % claims["exp"])

    # The check is real: a changed claim or a foreign key fails.
    h, p, sig = token.split(".")
    forged = dict(claims, sub="spiffe://%s/admin" % TD)
    bad = h + "." + base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip(
        "=") + "." + sig
    try:
        verify(bad, bundle)
        sigiltest.fail("jwcrypto accepted a token with a changed sub")
    except jws.InvalidJWSSignature:
        pass
    other = t.server(name="other")
    try:
        verify(token, other.bundle_spiffe())
        sigiltest.fail("another server's bundle verified our token")
    except Exception as e:      # jwcrypto: no key with this kid
        check(not isinstance(e, sigiltest.TestFailure), str(e))


def test_mint_json_and_write(t):
    need_jwcrypto()
    s = t.server()
    bundle = s.bundle_spiffe()
    j = s.cli("jwt", "mint", "-spiffeID", SID, "-audience", "x", output="json").ok().json()
    svid = j["svid"]
    eq(svid["id"], {"trust_domain": TD, "path": "/tool"}, "JSON id")
    _, claims = verify(svid["token"], bundle)
    eq(svid["expires_at"], str(claims["exp"]), "JSON expires_at is the exp claim, as a string")
    eq(svid["issued_at"], str(claims["iat"]), "JSON issued_at is the iat claim")

    path = t.path("token.jwt")
    r = s.cli("jwt", "mint", "-spiffeID", SID, "-audience", "x", "-write", path).ok()
    eq(r.out, "JWT-SVID written to %s\n" % path, "-write output")
    eq(stat.S_IMODE(os.stat(path).st_mode), 0o600, "token file mode")
    _, claims = verify(open(path).read().strip(), bundle)
    eq(claims["sub"], SID, "sub of the written token")
    j = s.cli("jwt", "mint", "-spiffeID", SID, "-audience", "x", "-write", path,
              output="json").ok().json()
    eq(j, {"path": path}, "-write JSON")
    s.refuses("jwt", "mint", "-spiffeID", SID, "-audience", "x", "-write",
              t.path("no", "such", "dir", "t.jwt"), match=r"t\.jwt")


def test_capped_ttl(t):
    need_jwcrypto()
    s = t.server()
    r = s.cli("jwt", "mint", "-spiffeID", SID, "-audience", "x", "-ttl", "30d").ok()
    check(r.err.startswith("JWT-SVID lifetime was capped shorter than specified ttl; expires "),
          "capped-TTL note:\n%r" % r)
    _, claims = verify(r.out.strip(), s.bundle_spiffe())
    check(claims["exp"] <= int(time.time()) + 24 * 3600 + 30,
          "never beyond the JWT key's own end (24h)")


def test_mint_bad_input(t):
    s = t.server()
    for args, match in [
            (["-audience", "a"], r"^Error: -spiffeID is required"),
            (["-spiffeID", SID], r"^Error: at least one -audience is required"),
            (["-spiffeID", "tool", "-audience", "a"], r"invalid -spiffeID"),
            (["-spiffeID", SID, "-audience", "a", "-ttl", "-5"], r"invalid -ttl"),
            (["-spiffeID", SID, "-audience", "a", "-ttl", "5 min"], r"invalid -ttl"),
            (["-spiffeID", SID, "-audience", "a", "-dns", "x"], r"not defined: -dns"),
            (["-spiffeID", SID, "-aud", "a"], r"not defined: -aud")]:
        s.refuses("jwt", "mint", *args, rc=2, match=match)
    for args, match in [
            (["-spiffeID", "spiffe://other.org/tool", "-audience", "a"], r"trust domain"),
            (["-spiffeID", "spiffe://%s" % TD, "-audience", "a"], r"path")]:
        s.refuses("jwt", "mint", *args,
                  match=r"^Error: unable to mint SVID: rpc error: code = InvalidArgument.*"
                        + match)


if __name__ == "__main__":
    sigiltest.main()
