#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Workload API streams of the real sigil-agent, read with Debian's python3-grpcio: entry
create / update (hint, TTL) / delete on the server each reach an open FetchX509SVID stream
at once as a complete message, and deleting the caller's last entry ends its streams with
PERMISSION_DENIED; federated bundle changes; a CA rotation (server ca_ttl 20s) seen as new
bundles and SVIDs from the new CA; streams of two uids updated independently; processes
that exit mid-stream (their connections closed, the agent serving the others); an entry
whose expiry passes withdrawn at that moment; 200
concurrent streams, all updated after one entry change."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import grpc  # noqa: E402

import sigiltest  # noqa: E402
import workloadtest as wt  # noqa: E402
from agenttest import SLOW, TD, check, create_entry, entry_args, eq, make_ca  # noqa: E402

OTHER_UID = 4242
NO_IDENTITY = "no identity issued"
# How soon a change on the server must show on a stream: "at once", i.e. about a second
# (pushed to the agent, SVID signed, message sent), scaled for sanitizer builds.
UPDATE_LIMIT = 1.5 * SLOW


def sid(path):
    return "spiffe://%s%s" % (TD, path)


def svid_of(msg, spiffe_id):
    found = [x for x in msg.svids if x.spiffe_id == spiffe_id]
    return found[0] if found else None


def after_change(st, pred, what, change):
    """Run change(), then wait for a message with pred(last message); returns it and prints
    how long it took."""
    n = st.count()
    t0 = time.monotonic()
    change()
    m = st.wait(lambda ms: len(ms) > n and pred(ms[-1]), UPDATE_LIMIT, what)
    print("# %s: on the stream %.0f ms after the command started"
          % (what, (st.times[-1] - t0) * 1e3))
    return m


def test_entry_changes(t):
    s, a, agent_id, made = wt.setup(t, entries=[("/base", ["unix:uid:0"], ["-hint", "base"])])
    c = wt.Client(a.api_sock)
    st = c.stream()
    bundles = c.stream("FetchX509Bundles")
    jwt_bundles = c.stream("FetchJWTBundles")
    m = st.wait_count(1, 5 * SLOW)
    eq(wt.ids(m), [sid("/base")], "first message")
    bundles.wait_count(1, 5 * SLOW)
    jwt_bundles.wait_count(1, 5 * SLOW)

    # Create: a complete message with both.
    new = {}
    m = after_change(st, lambda m: svid_of(m, sid("/new")), "a created entry",
                     lambda: new.update(id=create_entry(s, sid("/new"), agent_id, ["unix:uid:0"],
                                                        extra=["-hint", "new"])))
    eq(sorted(wt.ids(m)), [sid("/base"), sid("/new")], "the whole state")
    before = svid_of(m, sid("/new")).x509_svid

    def update(*extra):
        s.cli("entry", "update", "-entryID", new["id"],
              *entry_args(sid("/new"), agent_id, ["unix:uid:0"], extra=extra)).ok()

    # Update the hint.
    m = after_change(st, lambda m: svid_of(m, sid("/new")) and
                     svid_of(m, sid("/new")).hint == "renamed", "a hint change",
                     lambda: update("-hint", "renamed"))
    eq(sorted(wt.ids(m)), [sid("/base"), sid("/new")], "both SVIDs after the hint change")
    eq(svid_of(m, sid("/base")).hint, "base", "the other SVID's hint")

    # Update the TTL: a new certificate with the new lifetime.
    m = after_change(st, lambda m: svid_of(m, sid("/new")) and
                     wt.cert_dates(t, wt.der_elements(svid_of(m, sid("/new")).x509_svid)[0])[1]
                     < time.time() + 700, "an X.509-SVID TTL change",
                     lambda: update("-hint", "renamed", "-x509SVIDTTL", "600"))
    after = svid_of(m, sid("/new")).x509_svid
    check(after != before, "a new certificate")
    nb, na = wt.cert_dates(t, wt.der_elements(after)[0])
    check(500 <= na - time.time() <= 610, "the new SVID lives 600 s (notAfter %d)" % na)
    check(wt.verify_chain(t, after, svid_of(m, sid("/new")).bundle).rc == 0,
          "the new SVID verifies against the bundle")

    # Delete one: the message no longer holds it.
    m = after_change(st, lambda m: not svid_of(m, sid("/new")), "a deleted entry",
                     lambda: s.cli("entry", "delete", "-entryID", new["id"]).ok())
    eq(wt.ids(m), [sid("/base")], "the remaining SVID")

    # An entry for another uid changes nothing here: the next message is the marker's.
    n = st.count()
    create_entry(s, sid("/theirs"), agent_id, ["unix:uid:%d" % OTHER_UID])
    a.wait_svids([sid("/theirs")], timeout=5)
    after_change(st, lambda m: svid_of(m, sid("/marker")), "a marker entry",
                 lambda: made.update({"/marker": create_entry(s, sid("/marker"), agent_id,
                                                              ["unix:uid:0", "unix:gid:0"])}))
    check(all(svid_of(x, sid("/marker")) for x in st.msgs[n:]),
          "no message for another uid's entry: %s" % [wt.ids(x) for x in st.msgs[n:]])

    # Delete the caller's last entries: every stream ends, as the spec says.
    for path in ("/base", "/marker"):
        s.cli("entry", "delete", "-entryID", made[path]).ok()
    for name, x in (("FetchX509SVID", st), ("FetchX509Bundles", bundles),
                    ("FetchJWTBundles", jwt_bundles)):
        eq(x.wait_end(UPDATE_LIMIT * 2), (grpc.StatusCode.PERMISSION_DENIED, NO_IDENTITY),
           "how the %s stream ends when the caller's last identity goes" % name)
    eq(wt.ids(st.msgs[-1]), [sid("/marker")], "the last message before the end")
    c.close()


def test_entry_expiry(t):
    """An entry whose -entryExpiry passes leaves open streams at that moment, not when the
    server's housekeeping (every 30 s) deletes it."""
    expiry = int(time.time()) + 4
    s, a, agent_id, made = wt.setup(t, entries=[
        ("/keep", ["unix:uid:0"], []),
        ("/short", ["unix:uid:0"], ["-entryExpiry", str(expiry)]),
    ])
    c = wt.Client(a.api_sock)
    st = c.stream()
    m = st.wait_count(1, 5 * SLOW)
    if time.time() < expiry:
        eq(sorted(wt.ids(m)), [sid("/keep"), sid("/short")], "both before the expiry")
    m = st.wait(lambda ms: not svid_of(ms[-1], sid("/short")),
                max(0, expiry - time.time()) + UPDATE_LIMIT, "the expired entry withdrawn")
    eq(wt.ids(m), [sid("/keep")], "the remaining SVID")
    print("# withdrawn %.0f ms after the expiry" % ((time.time() - expiry) * 1e3))
    sigiltest.contains(a.log_since_start(), "expired: its SVID is withdrawn", "logged")
    c.close()


def test_federated_bundle_changes(t):
    s, a, agent_id, _ = wt.setup(t)
    ca1, ca2 = make_ca(t, "partner-1"), make_ca(t, "partner-2")
    der = {k: wt.der_elements(_pem_der(open(v[0]).read()))[0] for k, v in
           (("1", ca1), ("2", ca2))}
    s.cli("bundle", "set", "-id", "partner.test", "-path", ca1[0]).ok()
    create_entry(s, sid("/fed"), agent_id, ["unix:uid:0"],
                 extra=["-federatesWith", "partner.test"])
    a.wait_svids([sid("/fed")])
    a.wait_debug(lambda d: d["federated_trust_domains"] == ["partner.test"], 5,
                 "the federated bundle in the agent")
    with wt.Client(a.api_sock) as c:
        st, bundles = c.stream(), c.stream("FetchX509Bundles")
        m = st.wait_count(1, 5 * SLOW)
        eq(dict(m.federated_bundles), {"spiffe://partner.test": der["1"]}, "first message")
        bundles.wait(lambda ms: "spiffe://partner.test" in ms[-1].bundles, 5 * SLOW,
                     "the partner in FetchX509Bundles")
        m = after_change(st, lambda m: m.federated_bundles.get("spiffe://partner.test") ==
                         der["2"], "a replaced federated bundle",
                         lambda: s.cli("bundle", "set", "-id", "partner.test", "-path",
                                       ca2[0]).ok())
        eq(wt.ids(m), [sid("/fed")], "the SVID is still there")
        bundles.wait(lambda ms: ms[-1].bundles.get("spiffe://partner.test") == der["2"],
                     UPDATE_LIMIT, "the replaced bundle in FetchX509Bundles")
        m = after_change(st, lambda m: not m.federated_bundles, "a deleted federated bundle",
                         lambda: s.cli("bundle", "delete", "-id", "partner.test").ok())
        eq(wt.ids(m), [sid("/fed")], "the SVID stays when its federated bundle goes")
        bundles.wait(lambda ms: sorted(ms[-1].bundles) == ["spiffe://example.org"],
                     UPDATE_LIMIT, "the deletion in FetchX509Bundles")


def _pem_der(text):
    import base64
    return b"".join(base64.b64decode("".join(b.splitlines()[1:-1]))
                    for b in sigiltest.pem_blocks(text))


def test_ca_rotation(t):
    s, a, agent_id, _ = wt.setup(
        t, server_config={"server": {"ca_ttl": "20s", "default_x509_svid_ttl": "6s",
                                     "agent_svid_ttl": "8s"}},
        entries=[("/rotating", ["unix:uid:0"], [])])
    with wt.Client(a.api_sock) as c:
        st, xb, jb = c.stream(), c.stream("FetchX509Bundles"), c.stream("FetchJWTBundles")
        m0 = st.wait_count(1, 5 * SLOW)
        old = wt.der_elements(m0.svids[0].bundle)
        eq(len(old), 1, "one CA at first")
        kids0 = {k["kid"] for k in json.loads(jb.wait_count(1, 5 * SLOW)
                                              .bundles["spiffe://example.org"])["keys"]}
        # At half the CA's life the next CA is published: a new message with both.
        m = st.wait(lambda ms: len(wt.der_elements(ms[-1].svids[0].bundle)) >= 2, 15 * SLOW,
                    "the prepared CA in the X509SVID stream's bundle")
        new_ca = [x for x in wt.der_elements(m.svids[0].bundle) if x not in old]
        eq(len(new_ca), 1, "one new CA")
        eq(wt.ids(m), [sid("/rotating")], "the SVID is in the message with the new bundle")
        xb.wait(lambda ms: new_ca[0] in wt.der_elements(ms[-1].bundles["spiffe://example.org"]),
                UPDATE_LIMIT, "the prepared CA in FetchX509Bundles")
        # The JWT authority rotates on its own schedule, in the same ca_ttl.
        jb.wait(lambda ms: {k["kid"] for k in json.loads(ms[-1].bundles["spiffe://example.org"])
                            ["keys"]} > kids0, 15 * SLOW,
                "the prepared JWT key in FetchJWTBundles")
        # Once it is active, SVIDs signed by it arrive on the stream.
        m = st.wait(lambda ms: wt.verify_chain(t, ms[-1].svids[0].x509_svid,
                                               new_ca[0]).rc == 0, 20 * SLOW,
                    "an SVID signed by the new CA")
        # The old CA leaves at its notAfter; the stream says so.
        m = st.wait(lambda ms: old[0] not in wt.der_elements(ms[-1].svids[0].bundle),
                    15 * SLOW, "the old CA to leave the bundle")
        # Every message on the way held an SVID its own bundle verified when it came.
        wall = time.time() - time.monotonic()
        for i, x in enumerate(st.msgs):
            r = wt.verify_chain(t, x.svids[0].x509_svid, x.svids[0].bundle,
                                at=wall + st.times[i])
            check(r.rc == 0, "message %d: SVID against its bundle:\n%r" % (i, r))
        print("# %d X509SVID messages during the rotation" % st.count())


def test_svid_renewal(t):
    s, a, _, _ = wt.setup(t, entries=[("/short", ["unix:uid:0"], ["-x509SVIDTTL", "4"]),
                                      ("/long", ["unix:uid:0", "unix:gid:0"], [])])
    with wt.Client(a.api_sock) as c:
        st = c.stream()
        m0 = st.wait_count(1, 5 * SLOW)
        short0, long0 = svid_of(m0, sid("/short")), svid_of(m0, sid("/long"))
        na0 = wt.cert_dates(t, wt.der_elements(short0.x509_svid)[0])[1]
        st.wait(lambda ms: svid_of(ms[-1], sid("/short")).x509_svid != short0.x509_svid,
                6 * SLOW, "the renewed SVID on the stream")
        i = [svid_of(x, sid("/short")).x509_svid != short0.x509_svid for x in st.msgs].index(True)
        m = st.msgs[i]
        arrived = time.time() - (time.monotonic() - st.times[i])
        renewed = svid_of(m, sid("/short"))
        check(arrived < na0, "renewed before the old SVID expired (%.1f s before)"
              % (na0 - arrived))
        check(wt.cert_dates(t, wt.der_elements(renewed.x509_svid)[0])[1] > na0,
              "the new SVID lasts longer")
        check(renewed.x509_svid_key != short0.x509_svid_key, "with a new key")
        # Complete state: the SVID that did not change is in the message too.
        eq(svid_of(m, sid("/long")).x509_svid, long0.x509_svid, "the other SVID, unchanged")


def test_agent_stop_ends_streams(t):
    s, a, _, _ = wt.setup(t, entries=[("/w", ["unix:uid:0"], [])])
    with wt.Client(a.api_sock) as c:
        streams = [c.stream(name) for name in ("FetchX509SVID", "FetchX509Bundles",
                                               "FetchJWTBundles")]
        for x in streams:
            x.wait_count(1, 5 * SLOW)
        a.stop()        # exits 0 in time, or the test fails
        for x in streams:
            eq(x.wait_end(5 * SLOW), (grpc.StatusCode.UNAVAILABLE, "agent shutting down"),
               "how %s ends when the agent stops" % x.name)


def test_streams_of_two_uids(t):
    sigiltest.require_root()
    s, a, agent_id, _ = wt.setup(t, entries=[
        ("/root", ["unix:uid:0"], []),
        ("/user", ["unix:uid:%d" % OTHER_UID], []),
    ])
    user = wt.Proc(sigiltest.as_uid(OTHER_UID) + wt.client_argv(a.api_sock, "stream"))
    first = json.loads(user.next_line(5 * SLOW, what="uid %d's first message" % OTHER_UID))
    eq(first, {"spiffe_ids": [sid("/user")]}, "uid %d's first message" % OTHER_UID)
    with wt.Client(a.api_sock) as c:
        st = c.stream()
        eq(wt.ids(st.wait_count(1, 5 * SLOW)), [sid("/root")], "root's first message")
        n = st.count()
        create_entry(s, sid("/user2"), agent_id, ["unix:uid:%d" % OTHER_UID])
        line = json.loads(user.next_line(UPDATE_LIMIT, what="uid %d's update" % OTHER_UID))
        eq(sorted(line["spiffe_ids"]), [sid("/user"), sid("/user2")],
           "uid %d's update" % OTHER_UID)
        after_change(st, lambda m: svid_of(m, sid("/root2")), "root's own change",
                     lambda: create_entry(s, sid("/root2"), agent_id, ["unix:uid:0"]))
        check(all(svid_of(x, sid("/root2")) for x in st.msgs[n:]),
              "root's stream saw nothing of uid %d's change" % OTHER_UID)
        eq(sorted(wt.ids(st.msgs[-1])), [sid("/root"), sid("/root2")], "root's identities")
    user.kill()


def test_process_exits_mid_stream(t):
    s, a, agent_id, _ = wt.setup(t, entries=[("/w", ["unix:uid:0"], [])])
    with wt.Client(a.api_sock) as c:
        st = c.stream()
        st.wait_count(1, 5 * SLOW)
        base = wt.socket_fds(a.pid)
        # Processes that open a stream each, then die without a word.
        procs = [wt.Proc(wt.client_argv(a.api_sock, "stream")) for _ in range(5)]
        for p in procs:
            eq(json.loads(p.next_line(10 * SLOW, what="a first message")),
               {"spiffe_ids": [sid("/w")]}, "a child's first message")
        during = wt.socket_fds(a.pid)
        check(during >= base + len(procs), "a connection per child: %d sockets, %d before"
              % (during, base))
        for p in procs:
            p.kill()
        wt.wait_for(lambda: wt.socket_fds(a.pid) <= base, 5 * SLOW,
                    "the agent to close the connections of the dead processes (it has %d "
                    "sockets, %d before)" % (wt.socket_fds(a.pid), base))
        # The agent serves the others as before: the open stream is updated, new calls work.
        after_change(st, lambda m: svid_of(m, sid("/after")), "an entry after the exits",
                     lambda: create_entry(s, sid("/after"), agent_id, ["unix:uid:0"]))
        eq(sorted(wt.ids(c.x509())), [sid("/after"), sid("/w")], "a new call")
        # A stream cancelled by its client is cleaned up too.
        extra = wt.Client(a.api_sock)
        xs = extra.stream()
        xs.wait_count(1, 5 * SLOW)
        xs.cancel()
        extra.close()
        wt.wait_for(lambda: wt.socket_fds(a.pid) <= base, 5 * SLOW,
                    "the agent to close a cancelled client's connection")
    check(a.running(), "the agent still runs")


def test_200_concurrent_streams(t):
    s, a, agent_id, _ = wt.setup(t, entries=[("/many", ["unix:uid:0"], [])])
    n_clients, per_client = 4, 50
    clients = [wt.Client(a.api_sock) for _ in range(n_clients)]
    base = wt.socket_fds(a.pid)
    t0 = time.monotonic()
    streams = [c.stream() for c in clients for _ in range(per_client)]
    for x in streams:
        eq(wt.ids(x.wait_count(1, 30 * SLOW)), [sid("/many")], "first message")
    print("# %d streams got their first message in %.2f s"
          % (len(streams), time.monotonic() - t0))
    check(wt.socket_fds(a.pid) >= base + n_clients, "a connection per client")
    # One entry change reaches every stream.
    t0 = time.monotonic()
    create_entry(s, sid("/added"), agent_id, ["unix:uid:0"])
    for x in streams:
        x.wait(lambda ms: svid_of(ms[-1], sid("/added")), 10 * SLOW, "the update on every stream")
    worst = max(x.times[-1] for x in streams) - t0
    print("# the update reached all %d streams %.0f ms after the command started"
          % (len(streams), worst * 1e3))
    for x in streams:
        eq(sorted(wt.ids(x.last())), [sid("/added"), sid("/many")], "the complete state")
        check(x.end is None, "the stream is still open")
    for c in clients:
        c.close()
    wt.wait_for(lambda: wt.socket_fds(a.pid) <= base, 10 * SLOW,
                "the agent to close the 4 connections")
    with wt.Client(a.api_sock) as c:
        eq(sorted(wt.ids(c.x509())), [sid("/added"), sid("/many")], "served after all that")


if __name__ == "__main__":
    sigiltest.main()
