#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""sigil-agent's node identity against the real sigil-server: join_token and x509pop
attestation, a reused token and a foreign CA refused, restart without re-attesting,
eviction (x509pop re-attests, join_token says why it cannot and exits 1), ban."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from agenttest import (TD, Agent, agent_id_of_token, agent_list_ids, check,  # noqa: E402
                       create_entry, eq, join_token, make_ca, make_node_cert,
                       sha1_fingerprint, x509pop_agent_config, x509pop_server_config)


def test_join_token_attestation(t):
    s = t.server()
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    d = a.debug()
    eq(d["agent_id"], agent_id_of_token(tok), "agent ID")
    eq(d["trust_domain"], TD, "trust domain")
    eq(d["attestations"], 1, "attestations made")
    check(d["bundle_sequence"] >= 1 and d["bundle_x509_authorities"] == 1,
          "bundle from the server: %r" % d)
    check(d["agent_svid_not_after"] > time.time() + 3000, "agent SVID lasts the server's 1h")
    eq(agent_list_ids(s), [agent_id_of_token(tok)], "agent list")
    shown = s.cli("agent", "show", "-spiffeID", d["agent_id"], output="json").ok().json()
    eq(shown["x509svid_serial_number"], d["agent_svid_serial"], "server knows our SVID")
    a.cli("healthcheck", "-adminSocketPath", a.admin_sock).ok()
    # State on disk: 0600 files in a 0700 data dir.
    for f in ("agent-svid.pem", "bundle.json"):
        eq(os.stat(os.path.join(a.data_dir, f)).st_mode & 0o777, 0o600, f + " mode")
    eq(os.stat(a.data_dir).st_mode & 0o777, 0o700, "data dir mode")
    eq(os.stat(os.path.dirname(a.admin_sock)).st_mode & 0o777, 0o700, "admin dir mode")
    a.stop()
    check(a.last_stop_seconds < 5 * sigiltest.SLOW, "SIGTERM stops the agent promptly")


def test_token_reuse_refused(t):
    s = t.server()
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    b = Agent(t, s, name="agent2", join_token=tok).spawn()
    eq(b.wait_exit(20), 1, "exit status of the second agent")
    sigiltest.contains(b.log_since_start(), "join token does not exist or has already been used",
                       "the second agent's log")
    # A token nobody generated, and one that expired, are refused the same way.
    c = Agent(t, s, name="agent3", join_token="00000000-0000-4000-8000-000000000000").spawn()
    eq(c.wait_exit(20), 1, "exit status with an unknown token")
    eq(agent_list_ids(s), [agent_id_of_token(tok)], "only the first agent attested")
    check(a.debug()["connected"], "the first agent is unaffected")


def test_admin_socket_in_use(t):
    s = t.server()
    a = Agent(t, s, join_token=join_token(s)).start()
    b = Agent(t, s, name="agent2", join_token=join_token(s))
    b.admin_sock = a.admin_sock
    b.spawn()
    eq(b.wait_exit(20), 1, "a second agent on the same admin socket")
    sigiltest.contains(b.log_since_start(), "admin socket: '%s': socket in use by another process" % a.admin_sock, "log")
    check(a.debug() is not None, "the first agent still answers on its admin socket")
    # Two agents on one data dir: the second is refused by the lock.
    c = Agent(t, s, name="agent3", data_dir=a.data_dir)
    c.spawn()
    eq(c.wait_exit(20), 1, "a second agent on the same data dir")
    sigiltest.contains(c.log_since_start(), "is in use by another sigil-agent", "log")
    # A second agent on the same Workload API socket: refused, and the socket stays the first's.
    d = Agent(t, s, name="agent4", join_token=join_token(s))
    d.api_sock = a.api_sock
    d.spawn()
    eq(d.wait_exit(20), 1, "a second agent on the same Workload API socket")
    sigiltest.contains(d.log_since_start(), "socket in use by another process", "log")
    check(os.path.exists(a.api_sock), "the first agent's socket is still there")
    a.cli("healthcheck", "-socketPath", a.api_sock).ok()


def test_no_attestor_and_no_bundle(t):
    s = t.server()
    a = Agent(t, s).spawn()
    eq(a.wait_exit(20), 1, "exit status without a join token")
    sigiltest.contains(a.log_since_start(), "-joinToken", "says what is missing")
    b = Agent(t, s, name="agent2", join_token=join_token(s), trust_bundle=None).spawn()
    eq(b.wait_exit(20), 1, "exit status without a trust bundle")
    sigiltest.contains(b.log_since_start(), "-trustBundle", "says what is missing")
    # -insecureBootstrap works, and warns.
    c = Agent(t, s, name="agent3", join_token=join_token(s), trust_bundle="insecure").start()
    sigiltest.contains(c.log_since_start(), "insecure_bootstrap: server NOT verified",
                       "insecure bootstrap warning")
    eq(agent_list_ids(s), [c.debug()["agent_id"]], "the insecure agent attested")


def test_attestation_waits_for_the_server(t):
    s = t.server()
    tok = join_token(s)
    a = Agent(t, s, join_token=tok)
    a.write_bootstrap_bundle()
    s.stop()
    a.spawn()
    r = a.wait_debug(lambda d: d is not None, 10, "the admin API before attestation")
    eq(r["agent_id"], "", "not attested yet")
    h = a.cli("healthcheck", "-adminSocketPath", a.admin_sock)
    eq(h.rc, 1, "unhealthy before attestation")
    sigiltest.contains(h.err, "has not attested yet", "healthcheck says why")
    h = a.cli("healthcheck", "-socketPath", a.api_sock)
    eq(h.rc, 1, "no Workload API before attestation")
    sigiltest.contains(h.err, "Workload API at '%s'" % a.api_sock, "healthcheck names the socket")
    time.sleep(1.5)
    sigiltest.contains(a.log_since_start(), "cannot attest yet", "the agent retries")
    s.start()
    a.wait_debug(lambda d: d["agent_id"] == agent_id_of_token(tok) and d["connected"], 40,
                 "attestation once the server is back")
    a.cli("healthcheck", "-adminSocketPath", a.admin_sock).ok()
    # Serving (it starts right after attestation), though this caller has no entry:
    # PermissionDenied still proves it answers.
    deadline = time.time() + 10 * sigiltest.SLOW
    while a.cli("healthcheck", "-socketPath", a.api_sock).rc != 0 and time.time() < deadline:
        time.sleep(0.1)
    a.cli("healthcheck", "-socketPath", a.api_sock).ok()


def test_x509pop(t):
    ca = make_ca(t, "node-ca")
    node = make_node_cert(t, ca, "gpu-node-17")
    s = t.server(config=x509pop_server_config(ca[0]))
    a = Agent(t, s, config=x509pop_agent_config(node)).start()
    agent_id = "spiffe://%s/sigil/agent/x509pop/%s" % (TD, sha1_fingerprint(t, node[0]))
    eq(a.debug()["agent_id"], agent_id, "x509pop agent ID is the certificate's fingerprint")
    eq(agent_list_ids(s), [agent_id], "agent list")
    # An entry under the agent, and one under a node entry matching its attested selectors.
    create_entry(s, "spiffe://%s/direct" % TD, agent_id)
    s.cli("entry", "create", "-node", "-spiffeID", "spiffe://%s/gpu-nodes" % TD,
          "-selector", "x509pop:subject:cn:gpu-node-17").ok()
    create_entry(s, "spiffe://%s/via-alias" % TD, "spiffe://%s/gpu-nodes" % TD)
    a.wait_svids(["spiffe://%s/direct" % TD, "spiffe://%s/via-alias" % TD])
    a.cli("validate", "-trustDomain", TD, "-serverAddress", "x", "-config", a.config_path).ok()


def test_x509pop_wrong_ca_refused(t):
    ca = make_ca(t, "node-ca")
    other = make_ca(t, "other-ca")
    node = make_node_cert(t, other, "intruder")
    s = t.server(config=x509pop_server_config(ca[0]))
    a = Agent(t, s, config=x509pop_agent_config(node)).spawn()
    eq(a.wait_exit(20), 1, "exit status with a certificate of another CA")
    sigiltest.contains(a.log_since_start(), "does not chain to the x509pop CAs",
                       "the refusal is explained")
    eq(agent_list_ids(s), [], "no agent attested")
    # A key that is not the certificate's is caught before anything is sent.
    good = make_node_cert(t, ca, "good")
    b = Agent(t, s, name="agent2", config=x509pop_agent_config((good[0], node[1]))).spawn()
    eq(b.wait_exit(20), 1, "exit status with a mismatched key")
    sigiltest.contains(b.log_since_start(), "is not the key of the certificate", "mismatch")
    r = b.cli("validate", "-trustDomain", TD, "-serverAddress", "x", "-config", b.config_path)
    eq(r.rc, 1, "validate refuses the mismatched key")


def test_restart_without_reattest(t):
    s = t.server()
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    create_entry(s, "spiffe://%s/web" % TD, agent_id_of_token(tok))
    before = a.wait_svids(["spiffe://%s/web" % TD])
    a.stop()
    a.start()       # the same flags, the used -joinToken included
    d = a.wait_svids(["spiffe://%s/web" % TD])
    eq(d["agent_id"], before["agent_id"], "agent ID after restart")
    eq(d["agent_svid_serial"], before["agent_svid_serial"], "the stored agent SVID is used")
    eq(d["attestations"], 0, "no attestation after restart")
    eq(agent_list_ids(s), [before["agent_id"]], "no new node in agent list")
    sigiltest.contains(a.log_since_start(), "using the stored agent SVID", "log")


def test_evict_join_token(t):
    s = t.server()
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    start = time.monotonic()
    s.cli("agent", "evict", "-spiffeID", agent_id_of_token(tok)).ok()
    eq(a.wait_exit(10), 1, "exit status after eviction (the join token is spent)")
    took = time.monotonic() - start
    print("# evicted join_token agent exited %.2f s after the evict command" % took)
    log = a.log_since_start()
    sigiltest.contains(log, "join tokens are single use", "the agent says why it stops")
    sigiltest.contains(log, "is not attested (evicted?)", "and what the server said")
    # Started again with the spent token: the stored SVID is refused, so it stops again.
    a.spawn()
    eq(a.wait_exit(20), 1, "exit status after restart with the spent token")
    # With a fresh token it attests as a new agent.
    fresh = join_token(s)
    a.join_token = fresh
    d = a.start().debug()
    eq(d["agent_id"], agent_id_of_token(fresh), "new agent ID")
    eq(agent_list_ids(s), [agent_id_of_token(fresh)], "agent list after re-attestation")


def test_evict_x509pop_reattests(t):
    ca = make_ca(t, "node-ca")
    node = make_node_cert(t, ca, "node-1")
    s = t.server(config=x509pop_server_config(ca[0]))
    a = Agent(t, s, config=x509pop_agent_config(node)).start()
    agent_id = a.debug()["agent_id"]
    create_entry(s, "spiffe://%s/job" % TD, agent_id)
    a.wait_svids(["spiffe://%s/job" % TD])
    s.cli("agent", "evict", "-spiffeID", agent_id).ok()
    d = a.wait_debug(lambda d: d["attestations"] == 2 and d["connected"], 10,
                     "the agent to attest again")
    eq(d["agent_id"], agent_id, "same agent ID after re-attestation")
    eq(agent_list_ids(s), [agent_id], "the node is back in agent list")
    # It keeps working: a new entry reaches it and gets signed.
    create_entry(s, "spiffe://%s/job2" % TD, agent_id)
    a.wait_svids(["spiffe://%s/job" % TD, "spiffe://%s/job2" % TD])
    check(a.running(), "agent still running")


def test_ban(t):
    s = t.server()
    tok = join_token(s)
    a = Agent(t, s, join_token=tok).start()
    s.cli("agent", "ban", "-spiffeID", agent_id_of_token(tok)).ok()
    eq(a.wait_exit(10), 1, "exit status after ban")
    sigiltest.contains(a.log_since_start(), "banned", "the agent says it was banned")
    a.spawn()
    eq(a.wait_exit(20), 1, "a banned agent stays out after restart")
    sigiltest.contains(a.log_since_start(), "banned", "and says so again")


def test_ban_x509pop(t):
    ca = make_ca(t, "node-ca")
    node = make_node_cert(t, ca, "node-b")
    s = t.server(config=x509pop_server_config(ca[0]))
    a = Agent(t, s, config=x509pop_agent_config(node)).start()
    agent_id = a.debug()["agent_id"]
    s.cli("agent", "ban", "-spiffeID", agent_id).ok()
    eq(a.wait_exit(10), 1, "a banned x509pop agent does not get back in by re-attesting")
    sigiltest.contains(a.log_since_start(), "banned", "log")
    # x509pop agents can re-attest, but not while banned.
    shown = s.cli("agent", "show", "-spiffeID", agent_id, output="json").ok().json()
    eq((shown["banned"], shown["can_reattest"]), (True, False), "agent show of a banned agent")
    # A new data dir (no stored SVID) is refused at attestation.
    b = Agent(t, s, name="agent2", config=x509pop_agent_config(node)).spawn()
    eq(b.wait_exit(20), 1, "attestation of a banned node")
    sigiltest.contains(b.log_since_start(), "agent is banned", "log")


if __name__ == "__main__":
    sigiltest.main()
