#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""token generate, and the agent commands on a server no agent has attested to yet."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, eq, parse_blocks  # noqa: E402

TD = sigiltest.TRUST_DOMAIN
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
AGENT = "spiffe://%s/sigil/agent/join_token/00000000-0000-4000-8000-000000000000" % TD


def token_of(r):
    m = re.fullmatch(r"Token: (%s)\n" % UUID, r.out)
    check(m, "token generate prints 'Token: <uuid>':\n%r" % r)
    return m.group(1)


def test_token_generate(t):
    s = t.server()
    a = token_of(s.cli("token", "generate").ok())
    b = token_of(s.cli("token", "generate").ok())
    check(a != b, "two tokens differ")
    eq(s.cli("entry", "count").ok().out, "0 registration entries\n",
       "a token without -spiffeID registers nothing")

    now = int(time.time())
    j = s.cli("token", "generate", output="json").ok().json()
    check(re.fullmatch(UUID, j["value"]), "JSON value is a UUID: %r" % j)
    exp = int(j["expires_at"])          # an int64 string
    check(now + 600 - 5 <= exp <= now + 600 + 30, "default TTL is 600 s: exp %d, now %d"
          % (exp, now))
    j = s.cli("token", "generate", "-ttl", "90", output="json").ok().json()
    check(now + 85 <= int(j["expires_at"]) <= now + 120, "-ttl 90: %r" % j)
    j = s.cli("token", "generate", "-ttl", "2h", output="json").ok().json()
    check(now + 7200 - 5 <= int(j["expires_at"]) <= now + 7200 + 30, "-ttl 2h: %r" % j)


def test_token_with_spiffe_id(t):
    s = t.server()
    node = "spiffe://%s/host/gpu-17" % TD
    tok = token_of(s.cli("token", "generate", "-spiffeID", node, "-ttl", "10m").ok())
    head = []
    b = parse_blocks(s.cli("entry", "show", "-spiffeID", node).ok().out, head)
    eq(head, ["Found 1 entry"], "the node entry exists")
    agent_id = "spiffe://%s/sigil/agent/join_token/%s" % (TD, tok)
    eq(b[0]["Parent ID"], agent_id, "parent of the token's node entry is its agent ID")
    eq(b[0]["Selector"], ["spiffe_id:" + agent_id], "selector of the token's node entry")
    eq(s.cli("entry", "count").ok().out, "1 registration entry\n", "one entry")


def test_token_bad_input(t):
    s = t.server()
    for args, match in [
            (["-ttl", "-1"], r"invalid -ttl"),
            (["-ttl", "1.5h"], r"invalid -ttl"),
            (["-ttl", "forever"], r"invalid -ttl"),
            (["-spiffeID", "host/x"], r"invalid -spiffeID"),
            (["-spiffeID", "spiffe://%s/a/../b" % TD], r"invalid -spiffeID"),
            (["-value", "abc"], r"flag provided but not defined: -value"),
            (["extra"], r"unexpected argument")]:
        s.refuses("token", "generate", *args, rc=2, match=match)
    s.refuses("token", "generate", "-spiffeID", "spiffe://other.org/host",
              match=r"^Error: rpc error: code = InvalidArgument desc = .*trust domain")
    eq(s.cli("entry", "count").ok().out, "0 registration entries\n",
       "a refused token registers no node entry")


def test_agents_on_empty_server(t):
    s = t.server()
    eq(s.cli("agent", "list").ok().out, "No attested agents found\n", "agent list")
    eq(s.cli("agent", "count").ok().out, "0 attested agents\n", "agent count")
    eq(s.cli("agent", "list", output="json").ok().json(),
       {"agents": [], "next_page_token": ""}, "agent list JSON")
    eq(s.cli("agent", "count", output="json").ok().json(), {"count": 0}, "agent count JSON")
    for cmd in ("show", "evict", "ban"):
        r = s.refuses("agent", cmd, "-spiffeID", AGENT,
                      match=r"^Error: rpc error: code = NotFound desc = .*not found")
        eq(r.out, "", "agent %s of an unknown agent prints nothing on stdout" % cmd)
        s.refuses("agent", cmd, rc=2, match=r"^Error: -spiffeID is required")
        s.refuses("agent", cmd, "-spiffeID", "sigil/agent/x", rc=2, match=r"invalid -spiffeID")
    s.refuses("agent", "list", "-selector", "a:b", rc=2, match=r"not defined: -selector")
    s.refuses("agent", "purge", rc=2, match=r"unknown command")
    eq(s.cli("agent", "count").ok().out, "0 attested agents\n", "still no agents")


if __name__ == "__main__":
    sigiltest.main()
