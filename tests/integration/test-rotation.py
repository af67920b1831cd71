#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""CA rotation with a forced short ca_ttl, watched through `bundle show -format spiffe`.

With ca_ttl 30s the next CA is prepared (and published) at half its life, takes over at
5/6 and the old one leaves the bundle at its end. Expected, in order: one X.509
authority A; then A and B, while SVIDs still chain to A; then SVIDs chain to B while A
is still published; then A is gone. spiffe_sequence increases at every change of the
authorities and at no other time. JWT keys rotate the same way: a token's kid is in
the bundle before the first token signed with it. About 50 s in all.
"""

import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, der_to_pem, eq, fail, openssl  # noqa: E402

TD = sigiltest.TRUST_DOMAIN
SID = "spiffe://%s/rotating" % TD
CA_TTL = 30


class Watcher:
    """Reads the bundle and checks spiffe_sequence against every change seen."""

    def __init__(self, t, s):
        self.t, self.s = t, s
        self.last = None        # (sequence, x509 authorities, JWT kids)
        self.changes = 0
        self.jwt_seen = set()
        self.saved = []         # (path, bundle): each bundle seen, kept in the temp dir

    def read(self):
        b = self.s.bundle_spiffe()
        x509 = frozenset(k["x5c"][0] for k in b["keys"] if k["use"] == "x509-svid")
        jwt = frozenset(k["kid"] for k in b["keys"] if k["use"] == "jwt-svid")
        cur = (b["spiffe_sequence"], x509, jwt)
        if self.last is None or self.last[0] != cur[0]:
            self.saved.append((self.t.write("bundle-%d.json" % cur[0], b), b))
        if self.last is not None:
            seq0, x0, j0 = self.last
            if (x0, j0) != (x509, jwt):
                check(cur[0] > seq0, "spiffe_sequence did not increase (%d -> %d) when the "
                      "authorities changed" % (seq0, cur[0]))
                self.changes += 1
            else:
                eq(cur[0], seq0, "spiffe_sequence while the authorities stay the same")
        self.last = cur
        self.jwt_seen |= jwt
        return x509, jwt

    def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout * sigiltest.SLOW
        while True:
            x509, jwt = self.read()
            if pred(x509, jwt):
                return x509, jwt
            if time.monotonic() > deadline:
                fail("timed out waiting for %s; X.509 authorities now %d" % (what, len(x509)))
            time.sleep(0.25)


def pem_file(t, der_b64):
    return t.write("ca-%d.pem" % (hash(der_b64) & 0xffffffff), der_to_pem(base64.b64decode(
        der_b64)))


def mint(t):
    return t.write("leaf.pem", sigiltest.pem_blocks(
        t.servers[0].cli("x509", "mint", "-spiffeID", SID, "-ttl", "5s").ok().out)[0])


def chains_to(t, leaf, der_b64):
    return openssl("verify", "-CAfile", pem_file(t, der_b64), leaf, t=t).rc == 0


def signer(t, leaf, authorities):
    """The one authority of the set an SVID chains to (fails if none or several)."""
    found = [a for a in authorities if chains_to(t, leaf, a)]
    eq(len(found), 1, "authorities in the bundle read before the mint that the SVID chains to")
    return found[0]


def jwt_kid(t):
    tok = t.servers[0].cli("jwt", "mint", "-spiffeID", SID, "-audience", "a", "-ttl",
                           "5s").ok().out.strip()
    hdr = tok.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(hdr + "=" * (-len(hdr) % 4)))["kid"]


def test_rotation(t):
    s = t.server(config={"server": {"ca_ttl": "%ds" % CA_TTL}})
    w = Watcher(t, s)
    x509, jwt = w.read()
    eq(len(x509), 1, "one X.509 authority at start")
    eq(len(jwt), 1, "one JWT authority at start")
    (a,) = x509
    check(chains_to(t, mint(t), a), "an SVID chains to the first CA")
    first_kid = jwt_kid(t)
    check(first_kid in jwt, "the first JWT key is published")

    # Phase 1: B is prepared and published; A still signs.
    x509, _ = w.wait(lambda x, j: len(x) >= 2, CA_TTL, "a second X.509 authority")
    check(a in x509, "A is still published next to the prepared CA")
    (b,) = x509 - {a}
    eq(signer(t, mint(t), x509), a, "while B is only prepared, SVIDs chain to A (not B)")

    # Phase 2: B takes over while A stays published. Every SVID chains to a CA of the
    # bundle read before it was minted, and every JWT kid was published before use.
    deadline = time.monotonic() + CA_TTL * sigiltest.SLOW
    while True:
        x509, jwt = w.read()
        check(b in x509, "B stays in the bundle once published")
        kid = jwt_kid(t)
        check(kid in w.jwt_seen, "JWT kid %r used before it was published" % kid)
        used = signer(t, mint(t), x509)
        if used == b:
            check(a in w.read()[0], "A is still published when B takes over")
            break
        eq(used, a, "before B takes over SVIDs chain to A")
        check(time.monotonic() < deadline, "B never became the signing CA")
        time.sleep(0.25)

    # Phase 3: A leaves the bundle at its end; what signs then was published before.
    while True:
        x509, jwt = w.read()
        used = signer(t, mint(t), x509)
        if a not in x509:
            break
        check(time.monotonic() < deadline + CA_TTL * sigiltest.SLOW, "A never left")
        time.sleep(0.25)
    check(b in x509, "B stays when A leaves (its own end is later)")
    check(used != a, "SVIDs no longer chain to A")
    kid = jwt_kid(t)
    check(kid != first_kid, "the JWT key rotated too")
    check(kid in jwt, "the signing JWT key is published")
    # B prepared, then A dropped. The next CA after B may come in that same change: B is
    # at half its life when A ends.
    check(w.changes >= 2, "at least two bundle changes seen (%d)" % w.changes)
    audit = s.log()
    for action in ("ca.prepare", "ca.activate", "ca.drop"):
        check("action=%s" % action in audit, "%s audited" % action)
    for path, b in w.saved:
        with open(path) as f:
            eq(json.load(f), b, "the bundle kept in %s" % path)


def test_schedule_follows_ca_ttl(t):
    """docs/config.md: the next CA is prepared at half of ca_ttl, counted from when the
    CA was made, not from its certificate's notBefore (backdated 10 s for clock skew,
    which brought the next X.509 CA at 10 s instead of 15 s with ca_ttl 30s)."""
    spawned = time.monotonic()
    s = t.server(config={"server": {"ca_ttl": "%ds" % CA_TTL}})
    w = Watcher(t, s)
    w.wait(lambda x, j: len(x) >= 2, CA_TTL, "a second X.509 authority")
    took = time.monotonic() - spawned
    check(took >= CA_TTL / 2 - 1, "the next X.509 CA was prepared %.1f s after start, "
          "before half of ca_ttl (%d s)" % (took, CA_TTL // 2))


if __name__ == "__main__":
    sigiltest.main()
