#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Rotation seen from the agent: workload SVIDs renewed at half their lifetime (serial
changes, before expiry), the agent's own SVID renewed through RenewAgent (and the server
then sees the new one in use), and a CA rotation (server ca_ttl 60s) reaching the agent:
the new CA enters the agent's bundle, the moment it starts signing every SVID of the old
CA is re-signed by it (well before renewal would have done it), the old CA leaves. About
a minute and a half, most of it the CA rotation."""

import base64
import calendar
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from agenttest import (SLOW, TD, Agent, agent_id_of_token, check,  # noqa: E402
                       create_entries, create_entry, eq, join_token, openssl)


def test_svid_renewal_at_half_life(t):
    s = t.server()
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    sids = ["spiffe://%s/renew/%d" % (TD, i) for i in range(4)]
    for sid in sids:
        create_entry(s, sid, agent_id_of_token(tok), ttl=10)
    first = a.entries(a.wait_svids(sids))
    d = a.wait_debug(lambda d: all(a.entries(d)[x]["svid_serial"] != first[x]["svid_serial"]
                                   for x in sids), 12, "every SVID to be renewed",
                     interval=0.05)
    for sid in sids:
        e0, e1 = first[sid], a.entries(d)[sid]
        # A fresh SVID's life counts from the second it arrived (its notBefore is backdated).
        start = (e0["svid_cached_at_usec"] // 1000000) * 1e6
        life = e0["svid_not_after"] * 1e6 - start
        at = (e1["svid_cached_at_usec"] - start) / life
        print("# %s renewed at %.0f %% of its lifetime" % (sid, at * 100))
        check(0.40 <= at < 1.0, "%s renewed at %.2f of its lifetime (half +-10%% expected, "
              "before expiry in any case)" % (sid, at))
        check(e1["svid_not_after"] > e0["svid_not_after"], "the new SVID lasts longer")
        check(0.45 * life - 1 <= e0["renew_at_usec"] - start <= 0.55 * life + 1,
              "scheduled at half-life +-10%%: %r" % e0)


def test_agent_svid_renewal(t):
    s = t.server(config={"server": {"agent_svid_ttl": "8s"}})
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    agent_id = agent_id_of_token(tok)
    serials = [a.debug()["agent_svid_serial"]]
    for _ in range(2):
        d = a.wait_debug(lambda d: d["agent_svid_serial"] not in serials, 10,
                         "the agent SVID to be renewed")
        serials.append(d["agent_svid_serial"])
    # The agent moved to its new SVID: the server made it current.
    a.wait_debug(lambda d: s.cli("agent", "show", "-spiffeID", agent_id, output="json").ok()
                 .json()["x509svid_serial_number"] == d["agent_svid_serial"], 10,
                 "the server to see the renewed SVID in use")
    sigiltest.contains(a.log_since_start(), "renewed the agent SVID", "log")
    eq(a.debug()["attestations"], 1, "renewed, not re-attested")
    # And everything still works on it.
    sid = "spiffe://%s/after-renewal" % TD
    create_entry(s, sid, agent_id)
    a.wait_svids([sid])
    # A restart picks up the renewed SVID from disk.
    a.stop()
    a.start()
    eq(a.debug()["attestations"], 0, "no attestation after restart")


def ca_key_ids(t, s):
    """Subject key identifiers (hex) of the X.509 authorities in the server's bundle."""
    ids = set()
    for k in s.bundle_spiffe()["keys"]:
        if k.get("use") != "x509-svid":
            continue
        der = t.write("ca-%d.der" % time.monotonic_ns(), base64.b64decode(k["x5c"][0]))
        out = openssl("x509", "-inform", "DER", "-in", der, "-noout", "-ext",
                      "subjectKeyIdentifier", t=t).ok().out
        m = re.search(r"((?:[0-9A-F]{2}:)+[0-9A-F]{2})", out)
        check(m, "a subject key identifier in:\n%s" % out)
        ids.add(m.group(1).replace(":", "").lower())
    return ids


def audit_time(s, action, n=1):
    """Wall-clock time (s) of the n-th audit line of action for an X.509 CA slot."""
    pat = (r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)\.(\d{3})Z \S+ audit: .*action=%s .*kind=x509"
           % re.escape(action))
    found = re.findall(pat, s.log(), re.M)
    check(len(found) >= n, "%d '%s' audit lines for x509 in the server log" % (n, action))
    stamp, ms = found[n - 1]
    return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S")) + int(ms) / 1000


CA_TTL = 60


def check_resigned_on_activation(t, s, a, agent_id, old_ca, new_ca):
    """Entries with long TTLs get SVIDs from the old CA shortly before the new one takes
    over (at 5/6 of the CA's life, 1/3 of it after the prepare). They are capped at the
    old CA's notAfter, 10 s after the activation, so renewal at half-life would come 3 to 4
    s after it; the activation notice must re-sign them first."""
    activation = audit_time(s, "ca.prepare") + CA_TTL / 3
    time.sleep(max(0, activation - 2.0 - time.time()))
    sids = ["spiffe://%s/on-activation/%d" % (TD, i) for i in range(5)]
    create_entries(s, [{"spiffe_id": sid, "parent_id": agent_id, "x509_svid_ttl": 3600,
                        "selectors": [{"type": "unix", "value": "uid:%d" % (3000 + i)}]}
                       for i, sid in enumerate(sids)])
    before = a.entries(a.wait_svids(sids, timeout=2))
    for sid in sids:
        eq(before[sid]["svid_issuer_key_id"], old_ca, "issuer of %s before the activation" % sid)
    d = a.wait_debug(lambda d: all(a.entries(d)[x]["svid_issuer_key_id"] == new_ca
                                   for x in sids), 8, "the SVIDs re-signed by the new CA",
                     interval=0.05)
    activated = audit_time(s, "ca.activate", 2)
    for sid in sids:
        e0, e1 = before[sid], a.entries(d)[sid]
        took = e1["svid_cached_at_usec"] / 1e6 - activated
        print("# %s re-signed %.2f s after the activation; its renewal was due %.2f s after it"
              % (sid, took, e0["renew_at_usec"] / 1e6 - activated))
        # The agent may be reconnecting (its own SVID renews every few seconds): then the
        # snapshot it gets tells it, about a second later.
        check(took < 2.5 * SLOW, "%s re-signed within 2.5 s of the activation (%.2f s)"
              % (sid, took))
        check(e1["svid_cached_at_usec"] < e0["renew_at_usec"],
              "%s re-signed before its renewal time: not by renewal" % sid)
    check(re.search(r"told [01] agent\(s\) that another X.509 CA signs now",
                    s.log_since_start()), "the server noticed the activation")
    sigiltest.contains(a.log_since_start(), "the X.509 CA %s signs now; re-signing" % new_ca,
                       "agent log")


def test_ca_rotation(t):
    s = t.server(config={"server": {"ca_ttl": "%ds" % CA_TTL, "default_x509_svid_ttl": "6s",
                                    "agent_svid_ttl": "10s"}})
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    sid = "spiffe://%s/rotating" % TD
    create_entry(s, sid, agent_id_of_token(tok))
    d = a.wait_svids([sid])
    old_ca = a.entries(d)[sid]["svid_issuer_key_id"]
    eq(ca_key_ids(t, s), {old_ca}, "the SVID's issuer is the one CA in the bundle")
    eq(d["bundle_x509_key_ids"], [old_ca], "the agent's bundle")
    seq0 = d["bundle_sequence"]

    # The next CA is published at half the CA's life: the agent's bundle holds both.
    d = a.wait_debug(lambda d: d["bundle_x509_authorities"] == 2, CA_TTL / 2 + 10,
                     "the prepared CA in the agent's bundle", interval=0.2)
    check(d["bundle_sequence"] > seq0, "bundle sequence moved on")
    both = ca_key_ids(t, s)
    eq(len(both), 2, "the server publishes two CAs")
    new_ca = (both - {old_ca}).pop()

    # Once it signs, the agent's SVIDs move to it at once, while the old CA is still trusted.
    check_resigned_on_activation(t, s, a, agent_id_of_token(tok), old_ca, new_ca)
    d = a.wait_debug(lambda d: a.entries(d)[sid]["svid_issuer_key_id"] == new_ca, 5,
                     "the SVID re-signed by the new CA", interval=0.2)
    print("# re-signed by the new CA; the bundle holds %d authorities"
          % d["bundle_x509_authorities"])

    # The old CA leaves the bundle (the one after next may be published by then); the agent
    # follows and still serves a valid SVID from a CA it trusts.
    d = a.wait_debug(lambda d: old_ca not in d["bundle_x509_key_ids"], 20,
                     "the old CA to leave the agent's bundle", interval=0.2)
    e = a.entries(d)[sid]
    check(e["svid_issuer_key_id"] in d["bundle_x509_key_ids"] and
          e["svid_issuer_key_id"] != old_ca, "issuer after the rotation: %r" % e)
    check(e["svid_not_after"] > time.time(), "the SVID is valid")
    check(old_ca not in ca_key_ids(t, s), "the server's bundle after the rotation")
    eq(set(d["bundle_x509_key_ids"]), ca_key_ids(t, s), "the agent's bundle is the server's")
    check(d["connected"], "the agent is still connected (its own SVID moved to the new CA)")
    eq(d["attestations"], 1, "no re-attestation was needed")


if __name__ == "__main__":
    sigiltest.main()
