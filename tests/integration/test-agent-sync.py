#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The sync stream and the cache: entries created, updated and deleted on the server reach
the agent's debug view within a second (pushed: measured from the CLI call to the time the
agent recorded the change); the agent reconnects by itself after a server restart and gets a
fresh snapshot; a server outage longer than the SVIDs' renewal window leaves them served
until they expire, and they come back when the server does; 1,000 entries sync and sign;
2,000 entries that a new node entry brings an agent at once, and take away again, come
as pages like a snapshot."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from agenttest import (SLOW, TD, Agent, agent_id_of_token, check, create_entries,  # noqa: E402
                       create_entry, entry_args, eq, join_token, make_ca, make_node_cert,
                       now_usec, x509pop_agent_config, x509pop_server_config)

PUSH_LIMIT_USEC = 1_000_000


def start_pair(t, server_config=None):
    s = t.server(config=server_config)
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    return s, a, agent_id_of_token(tok)


def test_entry_changes_pushed(t):
    s, a, agent_id = start_pair(t)
    worst = 0
    for i in range(5):
        sid = "spiffe://%s/push/%d" % (TD, i)
        t0 = now_usec()
        entry_id = create_entry(s, sid, agent_id, ["unix:uid:%d" % (1000 + i)])
        t1 = now_usec()
        d = a.wait_debug(lambda d: sid in a.entries(d), 1.0, "entry %s in the agent" % sid,
                         interval=0.01)
        e = a.entries(d)[sid]
        eq(e["entry_id"], entry_id, "entry ID")
        check(t0 <= e["synced_at_usec"] <= t1 + PUSH_LIMIT_USEC,
              "entry %s reached the agent %.3f s after the create command returned"
              % (sid, (e["synced_at_usec"] - t1) / 1e6))
        worst = max(worst, e["synced_at_usec"] - t0)
        # ...and its SVID follows at once.
        a.wait_svids([sid], timeout=1.0)

    # Update: a new revision replaces the entry and its SVID is re-signed for it.
    sid = "spiffe://%s/push/0" % TD
    before = a.entries()[sid]
    t0 = now_usec()
    s.cli("entry", "update", "-entryID", before["entry_id"],
          *entry_args(sid, agent_id, ["unix:uid:1000", "unix:gid:50"],
                      extra=["-hint", "updated"])).ok()
    t1 = now_usec()
    d = a.wait_debug(lambda d: a.entries(d)[sid]["revision_number"] > before["revision_number"],
                     1.0, "the update in the agent", interval=0.01)
    e = a.entries(d)[sid]
    check(e["synced_at_usec"] <= t1 + PUSH_LIMIT_USEC, "update reached the agent in time")
    eq(sorted(e["selectors"]), ["unix:gid:50", "unix:uid:1000"], "updated selectors")
    eq(e["hint"], "updated", "updated hint")
    worst = max(worst, e["synced_at_usec"] - t0)
    d = a.wait_debug(lambda d: a.entries(d)[sid]["svid_revision"] == e["revision_number"], 2,
                     "the SVID re-signed for the new revision", interval=0.01)
    check(a.entries(d)[sid]["svid_serial"] != before["svid_serial"], "a new SVID")

    # Delete: gone from the agent (no timestamp to read: polled every 10 ms).
    t0 = time.monotonic()
    s.cli("entry", "delete", "-entryID", before["entry_id"]).ok()
    a.wait_debug(lambda d: sid not in a.entries(d), 1.0, "the deletion in the agent",
                 interval=0.01)
    took = time.monotonic() - t0
    print("# push latency: worst create/update %.1f ms from the CLI call; delete seen %.1f ms "
          "after it" % (worst / 1e3, took * 1e3))
    eq(a.debug()["reconnects"], 0, "one stream did it all")


def test_entries_of_other_agents_not_synced(t):
    s, a, agent_id = start_pair(t)
    create_entry(s, "spiffe://%s/mine" % TD, agent_id)
    create_entry(s, "spiffe://%s/theirs" % TD, agent_id_of_token(join_token(s)))
    d = a.wait_svids(["spiffe://%s/mine" % TD])
    eq(sorted(a.entries(d)), ["spiffe://%s/mine" % TD], "only entries authorised for us")


def test_server_restart_reconnects(t):
    s, a, agent_id = start_pair(t)
    sid = "spiffe://%s/steady" % TD
    create_entry(s, sid, agent_id)
    before = a.wait_svids([sid])
    s.stop()
    d = a.wait_debug(lambda d: not d["connected"], 5, "the agent to notice the server left")
    eq(a.entries(d)[sid]["svid_serial"], a.entries(before)[sid]["svid_serial"],
       "the SVID is still served while the server is down")
    eq(d["svid_count"], 1, "SVIDs served while the server is down")
    time.sleep(2)
    s.start()
    d = a.wait_debug(lambda d: d["connected"] and d["reconnects"] >= 1 and
                     d["snapshot_done_at_usec"] > before["snapshot_done_at_usec"], 15,
                     "the agent to reconnect by itself and get a fresh snapshot")
    log = a.log_since_start()
    sigiltest.contains(log, "reconnecting in", "the agent backs off between attempts")
    # The stream works again: a change made now is pushed.
    sid2 = "spiffe://%s/after-restart" % TD
    create_entry(s, sid2, agent_id)
    a.wait_debug(lambda d: sid2 in a.entries(d), 1.0 * SLOW, "a new entry after the restart",
                 interval=0.01)
    a.wait_svids([sid, sid2])


def test_server_down_past_renewal(t):
    s, a, agent_id = start_pair(t)
    sid = "spiffe://%s/short" % TD
    create_entry(s, sid, agent_id, ttl=8)
    e0 = a.entries(a.wait_svids([sid]))[sid]
    s.stop()
    # Past the renewal time (about half of 8 s) the old SVID is still served...
    wait = e0["renew_at_usec"] / 1e6 - time.time() + 1.0
    time.sleep(max(0, wait))
    e = a.entries()[sid]
    eq(e["svid_serial"], e0["svid_serial"], "the SVID is served past its renewal time")
    check(time.time() < e["svid_not_after"], "(and it is still valid)")
    # ...until it expires; then it is dropped.
    d = a.wait_debug(lambda d: not a.entries(d)[sid]["svid_serial"], 12,
                     "the expired SVID to be dropped")
    check(time.time() >= e0["svid_not_after"] - 1, "dropped at its notAfter, not before")
    eq(d["svid_count"], 0, "no SVID served")
    sigiltest.contains(a.log_since_start(), "expired before it could be renewed", "log")
    s.start()
    d = a.wait_svids([sid], timeout=15)
    check(a.entries(d)[sid]["svid_serial"] != e0["svid_serial"], "a new SVID once back")
    check(a.entries(d)[sid]["svid_not_after"] > time.time(), "and it is valid")


def test_federated_bundles(t):
    s, a, agent_id = start_pair(t)
    ca = make_ca(t, "partner-ca")
    s.cli("bundle", "set", "-id", "partner.test", "-path", ca[0]).ok()
    s.cli("bundle", "set", "-id", "unused.test", "-path", ca[0]).ok()
    sid = "spiffe://%s/federated" % TD
    create_entry(s, sid, agent_id, extra=["-federatesWith", "partner.test"])
    d = a.wait_debug(lambda d: d["federated_trust_domains"] == ["partner.test"], 2,
                     "the bundle the entry federates with")
    a.wait_svids([sid])
    # Replaced, then deleted on the server: pushed both times.
    other = make_ca(t, "partner-ca-2")
    s.cli("bundle", "set", "-id", "partner.test", "-path", other[0]).ok()
    s.cli("bundle", "delete", "-id", "partner.test").ok()
    a.wait_debug(lambda d: d["federated_trust_domains"] == [], 2, "the deletion pushed")
    check(a.running(), "agent still running")


def test_thousand_entries(t):
    s, a, agent_id = start_pair(t)
    n = 1000
    entries = [{"spiffe_id": "spiffe://%s/bulk/%d" % (TD, i), "parent_id": agent_id,
                "selectors": [{"type": "unix", "value": "uid:%d" % (20000 + i)}]}
               for i in range(n)]
    t0 = time.monotonic()
    create_entries(s, entries)
    d = a.wait_debug(lambda d: d["svid_count"] == n, 120, "%d SVIDs" % n, interval=0.2)
    took = time.monotonic() - t0
    eq(d["entry_count"], n, "entries in the agent")
    serials = {e["svid_serial"] for e in d["entries"]}
    eq(len(serials), n, "distinct SVIDs")
    print("# %d entries created, synced and signed in %.1f s" % (n, took))
    # A restarted agent gets them all again in one snapshot.
    a.stop()
    t0 = time.monotonic()
    a.start()
    a.wait_debug(lambda d: d["svid_count"] == n, 120, "%d SVIDs after restart" % n,
                 interval=0.2)
    print("# agent restart: %d SVIDs again in %.1f s" % (n, time.monotonic() - t0))


PAGE = 500


def sync_messages(log):
    """(upserts, removals) of each sync message the agent logged (at debug level)."""
    return [(int(u), int(r)) for u, r in
            re.findall(r"sync message \d+: (\d+) upserts, (\d+) removals", log)]


def test_resync_paged(t):
    # An x509pop agent: node entries can match its attested selectors.
    ca = make_ca(t, "node-ca")
    node = make_node_cert(t, ca, "node-c-1")
    s = t.server(config=x509pop_server_config(ca[0]))
    a = Agent(t, s, config=x509pop_agent_config(node)).start()
    n = 2000
    cluster = "spiffe://%s/cluster-c" % TD
    create_entries(s, [{"spiffe_id": "spiffe://%s/c/%d" % (TD, i), "parent_id": cluster,
                        "selectors": [{"type": "unix", "value": "uid:%d" % (40000 + i)}]}
                       for i in range(n)])
    eq(a.debug()["entry_count"], 0, "entries under a node entry that does not exist yet")
    # The node entry appears: the agent is authorised for all n at once.
    mark = len(a.log_since_start())
    r = s.cli("entry", "create", "-node", "-spiffeID", cluster,
              "-selector", "x509pop:subject:cn:node-c-1").ok()
    node_entry = re.search(r"^Entry ID\s*: (\S+)$", r.out, re.M).group(1)
    a.wait_debug(lambda d: d["entry_count"] == n, 30, "%d entries in the agent" % n,
                 interval=0.2)
    msgs = sync_messages(a.log_since_start()[mark:])
    print("# %d entries came in %d message(s): %s" % (n, len(msgs), msgs))
    eq(sum(u for u, _ in msgs), n, "upserts received")
    check(max(u for u, _ in msgs) <= PAGE, "at most %d upserts per message" % PAGE)
    check(len(msgs) >= n // PAGE, "paged: %d messages" % len(msgs))
    eq(a.debug()["reconnects"], 0, "on the live stream, not a new snapshot")
    # And when it goes, so do they, in pages too.
    mark = len(a.log_since_start())
    s.cli("entry", "delete", "-entryID", node_entry).ok()
    a.wait_debug(lambda d: d["entry_count"] == 0, 30, "the entries gone", interval=0.2)
    msgs = sync_messages(a.log_since_start()[mark:])
    eq(sum(r for _, r in msgs), n, "removals received")
    check(max(r for _, r in msgs) <= PAGE, "at most %d removals per message: %s" % (PAGE, msgs))


if __name__ == "__main__":
    sigiltest.main()
