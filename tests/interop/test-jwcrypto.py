#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""
Cross-check libsigil's JWT-SVIDs with python3-jwcrypto, an implementation
not written here.

  1. jwcrypto verifies tokens libsigil signs, against the JWK Set libsigil
     emits for the Workload API (every JWS algorithm of the allow-list).
  2. libsigil (tests/tools/jwt-tool verify) accepts tokens jwcrypto signs,
     with the public keys as jwcrypto exports them (plain JWKS) and as a
     SPIFFE bundle, and rejects jwcrypto tokens it must reject: HS256 (keyed
     with the published key, the alg-confusion attack), wrong audience,
     expired, tampered.

Usage: test-jwcrypto.py PATH/TO/jwt-tool. Exit 0 when everything matched,
1 on any mismatch, 77 (skip) when jwcrypto is not installed. Run with
Debian's /usr/bin/python3, which has python3-jwcrypto.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

try:
    from jwcrypto import jwk, jwt
    from jwcrypto.common import base64url_encode
except ImportError:
    print("python3-jwcrypto not available: skipping")
    sys.exit(77)

TD = "example.org"
SUB = "spiffe://example.org/ns/prod/sa/web"
AUD = "spiffe://example.org/db"
ALGS = ["ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def tool(*args, stdin=None):
    p = subprocess.run([TOOL, *args], input=stdin, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout.strip(), p.stderr.strip()


def sigil_to_jwcrypto(tmp):
    """libsigil signs and publishes; jwcrypto verifies."""
    keys = {}
    for alg in ALGS:
        family = "rsa" if alg[0] in "RP" else alg
        if family not in keys:
            path = os.path.join(tmp, f"{family}.pem")
            rc, _, err = tool("keygen", alg, path)
            check(rc == 0, f"keygen {alg} {err}")
            keys[family] = path
    kids = [f"{f}=" + p for f, p in keys.items()]
    rc, jwks_json, err = tool("jwks", TD, *kids)
    check(rc == 0, f"jwks {err}")
    keyset = jwk.JWKSet.from_json(jwks_json)
    check(all("use" not in k for k in json.loads(jwks_json)["keys"]), "plain JWKS has no 'use'")

    for alg in ALGS:
        family = "rsa" if alg[0] in "RP" else alg
        rc, token, err = tool("sign", keys[family], family, alg, SUB, "300", AUD)
        check(rc == 0, f"sigil sign {alg} {err}")
        try:
            t = jwt.JWT(jwt=token, key=keyset, algs=[alg], check_claims={"exp": None})
            claims = json.loads(t.claims)
            header = json.loads(t.header)
            check(claims["sub"] == SUB and claims["aud"] == AUD, f"jwcrypto verifies sigil {alg}")
            check(set(header) == {"alg", "kid", "typ"} and header["alg"] == alg
                  and header["typ"] == "JWT", f"sigil {alg} header is alg/kid/typ only")
        except Exception as e:  # noqa: BLE001 - any failure is a mismatch
            check(False, f"jwcrypto verifies sigil {alg}: {e!r}")
        # a flipped payload byte must make jwcrypto fail, or the check above proves nothing
        h, p, s = token.split(".")
        p = p[:-2] + ("A" if p[-2] != "A" else "B") + p[-1]
        try:
            jwt.JWT(jwt=".".join([h, p, s]), key=keyset, algs=[alg], check_claims=False)
            check(False, f"jwcrypto rejects tampered sigil {alg}")
        except Exception:  # noqa: BLE001
            check(True, f"jwcrypto rejects tampered sigil {alg}")


def make_token(key, alg, claims, kid=None):
    header = {"alg": alg, "kid": kid or key.key_id, "typ": "JWT"}
    t = jwt.JWT(header=header, claims=claims)
    t.make_signed_token(key)
    return t.serialize()


def sigil_verify(bundle_path, token, aud=AUD):
    plain = ["--jwks"] if bundle_path.endswith("-jwks.json") else []
    return tool("verify", *plain, bundle_path, TD, aud, "-", stdin=token + "\n")


def jwcrypto_to_sigil(tmp):
    """jwcrypto signs and publishes; libsigil verifies."""
    specs = [("ES256", {"kty": "EC", "crv": "P-256"}), ("ES384", {"kty": "EC", "crv": "P-384"}),
             ("ES512", {"kty": "EC", "crv": "P-521"}), ("RS256", {"kty": "RSA", "size": 2048}),
             ("PS256", {"kty": "RSA", "size": 2048})]
    keys = {}
    public = jwk.JWKSet()
    for alg, params in specs:
        k = jwk.JWK.generate(kid=f"py-{alg.lower()}", **params)
        keys[alg] = k
        public.add(jwk.JWK.from_json(k.export_public()))
    plain = json.loads(public.export(private_keys=False))
    spiffe = {"keys": [dict(k, use="jwt-svid") for k in plain["keys"]], "spiffe_sequence": 3}
    plain_path = os.path.join(tmp, "py-jwks.json")
    spiffe_path = os.path.join(tmp, "py-bundle.json")
    with open(plain_path, "w") as f:
        json.dump(plain, f)
    with open(spiffe_path, "w") as f:
        json.dump(spiffe, f)

    now = int(time.time())
    good = {"sub": SUB, "aud": [AUD], "exp": now + 300, "iat": now, "iss": "jwcrypto"}
    for alg, key in keys.items():
        token = make_token(key, alg, good)
        for path in (plain_path, spiffe_path):
            rc, out, err = sigil_verify(path, token)
            check(rc == 0 and out.startswith(f"OK {SUB} {alg}"),
                  f"sigil verifies jwcrypto {alg} ({os.path.basename(path)}) {out} {err}")

    es = keys["ES256"]
    rc, out, _ = sigil_verify(plain_path, make_token(es, "ES256", dict(good, aud=["other"])))
    check(rc == 1 and "expected audience" in out, f"sigil rejects wrong audience: {out}")
    rc, out, _ = sigil_verify(plain_path,
                              make_token(es, "ES256", dict(good, exp=now - 120, iat=now - 600)))
    check(rc == 1 and "expired" in out, f"sigil rejects expired jwcrypto token: {out}")
    token = make_token(es, "ES256", good)
    h, p, s = token.split(".")
    forged = base64url_encode(json.dumps(dict(good, sub="spiffe://example.org/admin")))
    tampered = ".".join([h, forged, s])
    rc, out, _ = sigil_verify(plain_path, tampered)
    check(rc == 1 and "signature verification failed" in out, f"sigil rejects tampered: {out}")

    # alg confusion: HMAC keyed with the bytes of the published public key
    with open(plain_path, "rb") as f:
        secret = jwk.JWK(kty="oct", k=base64url_encode(f.read()))
    hs = make_token(secret, "HS256", good, kid=es.key_id)
    for path in (plain_path, spiffe_path):
        rc, out, _ = sigil_verify(path, hs)
        check(rc == 1 and 'unsupported algorithm "HS256"' in out,
              f"sigil rejects jwcrypto HS256 ({os.path.basename(path)}): {out}")

    # a plain JWKS read as a SPIFFE bundle has no usable key (no "use"): never trusted
    rc, out, _ = tool("verify", plain_path, TD, AUD, "-", stdin=token + "\n")
    check(rc == 1 and "key not found" in out, f"plain JWKS is not a SPIFFE bundle: {out}")


def main():
    global TOOL
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    TOOL = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="sigil-jwcrypto-") as tmp:
        sigil_to_jwcrypto(tmp)
        jwcrypto_to_sigil(tmp)
    if failures:
        print(f"{len(failures)} mismatch(es)")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
