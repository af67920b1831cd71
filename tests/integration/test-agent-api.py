#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The server's agent API spoken to directly, with Debian's python3-grpcio over (mutual)
TLS: x509pop attestation done by this test (challenge, proof, replay, wrong key, wrong
CA, intermediates, ban before signing), the attestation rate limit, signing refused for
entries that are not the caller's (one answer for "not yours" and "does not exist", each
audited), a workload SVID refused as an agent's, and agents re-attesting (or exiting)
after their stored SVID expired.

The generated code (sigil/agent_pb2.py, sigil/admin_pb2.py) is made with protoc in a
temp dir at start and never committed."""

import atexit
import datetime
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from agenttest import (TD, Agent, agent_id_of_token, check, create_entry, eq,  # noqa: E402
                       join_token, make_ca, make_intermediate, make_node_cert,
                       sha1_fingerprint, x509pop_agent_config, x509pop_server_config)
from sigiltest import SLOW, contains, pem_blocks  # noqa: E402

try:
    import grpc
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError as e:        # not Debian's python3 with python3-grpcio and -cryptography
    print("1..0 # SKIP %s" % e)
    sys.exit(sigiltest.SKIP_EXIT)

# The server's limits (daemon/agent-api.h): 20 attestation calls per source address at once,
# refilled at 30 a minute.
ATTEST_BURST = 20
ATTEST_PER_MINUTE = 30
UNKNOWN_ENTRY = "00000000-0000-4000-8000-00000000dead"
X509POP_DOMAIN = b"sigil-x509pop-v1"


def _generate_pb2():
    d = tempfile.mkdtemp(prefix="sigil-agent-pb2-", dir="/tmp")
    atexit.register(shutil.rmtree, d, True)
    proto = os.path.join(sigiltest.SOURCE_DIR, "proto")
    subprocess.run(["protoc", "--python_out=" + d, "-I", proto,
                    os.path.join(proto, "sigil", "admin.proto"),
                    os.path.join(proto, "sigil", "agent.proto")], check=True)
    sys.path.insert(0, d)
    from sigil import agent_pb2
    return agent_pb2


pb = _generate_pb2()


# ---- a client of the agent API ----

class NodeClient:
    """A channel to the agent API: anonymous (attestation) or with a client certificate."""

    def __init__(self, server, cert_pem=None, key_pem=None):
        creds = grpc.ssl_channel_credentials(
            root_certificates=server.bundle_pem().encode(),
            private_key=key_pem.encode() if key_pem else None,
            certificate_chain=cert_pem.encode() if cert_pem else None)
        # The server's certificate names spiffe://<td>/sigil/server and DNS localhost.
        self.channel = grpc.secure_channel("127.0.0.1:%d" % server.port, creds, options=[
            ("grpc.ssl_target_name_override", "localhost"),
            ("grpc.use_local_subchannel_pool", 1)])

    def close(self):
        self.channel.close()

    def call(self, method, request, response_cls):
        stub = self.channel.unary_unary("/sigil.agent.v1.Node/" + method,
                                        request_serializer=lambda m: m.SerializeToString(),
                                        response_deserializer=response_cls.FromString)
        return stub(request, timeout=10 * SLOW)

    def refused(self, method, request, response_cls, code, match):
        """Call, which must fail with code and details matching the regex match; returns
        the details."""
        try:
            r = self.call(method, request, response_cls)
        except grpc.RpcError as e:
            eq(e.code(), code, "status of %s (%s)" % (method, e.details()))
            check(re.search(match, e.details() or ""),
                  "details of %s: %r do not match %r" % (method, e.details(), match))
            return e.details()
        sigiltest.fail("%s succeeded where %s was expected: %r" % (method, code, r))

    def challenge(self, chain_der):
        return self.call("X509PopChallenge", pb.X509PopChallengeRequest(cert_chain=chain_der),
                         pb.X509PopChallengeResponse)

    def attest(self, challenge_id, signature, csr_der):
        req = pb.AttestRequest(x509pop=pb.X509PopProof(challenge_id=challenge_id,
                                                       signature=signature), csr=csr_der)
        return self.call("Attest", req, pb.AttestResponse)

    def attest_refused(self, challenge_id, signature, csr_der, code, match):
        req = pb.AttestRequest(x509pop=pb.X509PopProof(challenge_id=challenge_id,
                                                       signature=signature), csr=csr_der)
        return self.refused("Attest", req, pb.AttestResponse, code, match)

    def sign_x509(self, entry_ids):
        """BatchNewX509SVID with a fresh CSR for each entry ID; returns the results."""
        reqs = [pb.X509SVIDRequest(entry_id=i, csr=new_csr()[1]) for i in entry_ids]
        return self.call("BatchNewX509SVID", pb.BatchNewX509SVIDRequest(requests=reqs),
                         pb.BatchNewX509SVIDResponse).results

    def jwt(self, entry_id, audience=("aud",)):
        return self.call("NewJWTSVID", pb.NewJWTSVIDRequest(entry_id=entry_id,
                                                            audience=list(audience)),
                         pb.NewJWTSVIDResponse)

    def jwt_refused(self, entry_id, code, match):
        return self.refused("NewJWTSVID", pb.NewJWTSVIDRequest(entry_id=entry_id,
                                                               audience=["aud"]),
                            pb.NewJWTSVIDResponse, code, match)


# ---- keys, CSRs, certificates and proofs ----

def new_csr():
    """(key, CSR DER) for a new P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([])).sign(
        key, hashes.SHA256())
    return key, csr.public_bytes(serialization.Encoding.DER)


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), None)


def cert_der(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read()).public_bytes(serialization.Encoding.DER)


def proof(key, nonce, csr_der):
    """The x509pop proof (lib/x509pop.c): the node key signs, with SHA-256,
    "sigil-x509pop-v1" || nonce || SHA-256(CSR)."""
    msg = X509POP_DOMAIN + nonce + hashlib.sha256(csr_der).digest()
    return key.sign(msg, ec.ECDSA(hashes.SHA256()))


def key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def chain_pem(chain_der):
    return "".join(sigiltest.der_to_pem(d) for d in chain_der)


def x509pop_attest(client, node, chain_der=None):
    """A whole x509pop attestation of node (cert path, key path): returns
    (response, agent SVID key)."""
    chain_der = chain_der or [cert_der(node[0])]
    ch = client.challenge(chain_der)
    eq(len(ch.nonce), 32, "nonce length")
    svid_key, csr = new_csr()
    return client.attest(ch.challenge_id, proof(load_key(node[1]), ch.nonce, csr), csr), svid_key


def audit_lines(path, action):
    with open(path) as f:
        return [l for l in f.read().splitlines() if " action=%s " % action in l]


def check_result_words(path):
    """Every audit line's result is one word; the details are in reason='...'."""
    with open(path) as f:
        for l in f.read().splitlines():
            m = re.search(r" result=(\S+)(?: |$)", l)
            check(m and m.group(1) in ("ok", "denied", "refused", "failed"),
                  "audit result is one word: %r" % l)


def signed_agent_svids(server, agent_id):
    """How often the server logged signing an agent SVID for agent_id (log_level debug)."""
    return server.log().count("signed an agent SVID for '%s'" % agent_id)


def agent_count(server):
    return server.cli("agent", "count", output="json").ok().json()["count"]


# ---- the tests ----

def test_x509pop_by_hand(t):
    """Challenge and proof made here; what must be refused is, and nothing is consumed twice."""
    root = make_ca(t, "node-ca")
    node = make_node_cert(t, root, "node-1")
    other_ca = make_ca(t, "other-ca")
    stranger = make_node_cert(t, other_ca, "stranger")
    inter = make_intermediate(t, root, "node-inter")
    deep = make_node_cert(t, inter, "deep-node")
    s = t.server(config=x509pop_server_config(root[0], {"log_level": "debug"}))
    c = NodeClient(s)
    P = grpc.StatusCode.PERMISSION_DENIED

    resp, svid_key = x509pop_attest(c, node)
    agent_id = "spiffe://%s/sigil/agent/x509pop/%s" % (TD, sha1_fingerprint(t, node[0]))
    eq(resp.agent_id, agent_id, "agent ID is the fingerprint of the node certificate")
    leaf = x509.load_der_x509_certificate(resp.svid_chain[0])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    eq(san.get_values_for_type(x509.UniformResourceIdentifier), [agent_id], "SVID URI SAN")
    eq(leaf.public_key().public_numbers(), svid_key.public_key().public_numbers(),
       "the SVID certifies the CSR's key")
    check(b'"x509-svid"' in resp.bundle, "the bundle comes with the SVID: %r" % resp.bundle)
    eq(signed_agent_svids(s, agent_id), 1, "agent SVIDs signed for the node")
    eq(agent_count(s), 1, "agent count after one attestation")

    # The proof is bound to its challenge: replayed, it is refused (the challenge is spent).
    ch = c.challenge([cert_der(node[0])])
    _, csr = new_csr()
    sig = proof(load_key(node[1]), ch.nonce, csr)
    c.attest(ch.challenge_id, sig, csr)
    c.attest_refused(ch.challenge_id, sig, csr, P, "unknown or already used challenge")
    # ...and to its CSR: the same proof with another CSR does not verify.
    ch = c.challenge([cert_der(node[0])])
    sig = proof(load_key(node[1]), ch.nonce, csr)
    _, csr2 = new_csr()
    c.attest_refused(ch.challenge_id, sig, csr2, P, "proof of possession does not verify")
    # A proof made with a key that is not the certificate's.
    ch = c.challenge([cert_der(node[0])])
    c.attest_refused(ch.challenge_id, proof(ec.generate_private_key(ec.SECP256R1()), ch.nonce,
                                            csr), csr, P, "proof of possession does not verify")
    # A certificate of another CA gets no challenge; a challenge ID nobody issued, nothing.
    c.refused("X509PopChallenge", pb.X509PopChallengeRequest(cert_chain=[cert_der(stranger[0])]),
              pb.X509PopChallengeResponse, P, "does not chain to the x509pop CAs")
    c.attest_refused("0" * 32, sig, csr, P, "unknown or already used challenge")
    # Below an intermediate: refused alone, attests with the intermediate after the leaf.
    c.refused("X509PopChallenge", pb.X509PopChallengeRequest(cert_chain=[cert_der(deep[0])]),
              pb.X509PopChallengeResponse, P, "does not chain to the x509pop CAs")
    resp2, _ = x509pop_attest(c, deep, [cert_der(deep[0]), cert_der(inter[0])])
    deep_id = "spiffe://%s/sigil/agent/x509pop/%s" % (TD, sha1_fingerprint(t, deep[0]))
    eq(resp2.agent_id, deep_id, "agent ID of the node below the intermediate")
    shown = s.cli("agent", "show", "-spiffeID", deep_id, output="json").ok().json()
    sels = {"%s:%s" % (x["type"], x["value"]) for x in shown["selectors"]}
    check("x509pop:ca:fingerprint:%s" % sha1_fingerprint(t, inter[0]) in sels and
          "x509pop:ca:fingerprint:%s" % sha1_fingerprint(t, root[0]) in sels,
          "selectors name both CAs of the path: %r" % sels)
    eq(agent_count(s), 2, "agent count after two nodes attested")
    eq(s.cli("agent", "count").ok().out, "2 attested agents\n", "agent count text")

    # Banned: refused before anything is signed, and `agent show` says it cannot come back.
    s.cli("agent", "ban", "-spiffeID", agent_id).ok()
    signed = signed_agent_svids(s, agent_id)
    ch = c.challenge([cert_der(node[0])])
    _, csr = new_csr()
    c.attest_refused(ch.challenge_id, proof(load_key(node[1]), ch.nonce, csr), csr, P,
                     "^agent is banned$")
    eq(signed_agent_svids(s, agent_id), signed, "agent SVIDs signed for the banned node")
    shown = s.cli("agent", "show", "-spiffeID", agent_id, output="json").ok().json()
    eq((shown["banned"], shown["can_reattest"]), (True, False), "banned agent in agent show")
    contains(s.cli("agent", "show", "-spiffeID", agent_id).ok().out,
             "Can re-attest     : false\n", "agent show of a banned agent")
    # Evicted, it may attest again.
    s.cli("agent", "evict", "-spiffeID", agent_id).ok()
    eq(agent_count(s), 1, "agent count after the eviction")
    resp, _ = x509pop_attest(c, node)
    eq(resp.agent_id, agent_id, "the evicted node attested again")
    eq(s.cli("agent", "show", "-spiffeID", agent_id, output="json").ok().json()["can_reattest"],
       True, "an x509pop agent that is not banned can re-attest")
    c.close()


def test_attest_rate_limit(t):
    """Attestation calls from one source: a burst, then RESOURCE_EXHAUSTED (audited)."""
    audit = t.path("audit.log")
    s = t.server(config={"server": {"audit_log_file": audit}})
    c = NodeClient(s)
    start = time.monotonic()
    n_ok = 0
    while True:
        try:
            c.call("Attest", pb.AttestRequest(), pb.AttestResponse)
            sigiltest.fail("an empty Attest request succeeded")
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                contains(e.details(), "too many attestation attempts from ipv4:127.0.0.1",
                         "the refusal names the source")
                break
            eq(e.code(), grpc.StatusCode.INVALID_ARGUMENT, "an empty Attest request: " +
               e.details())
        n_ok += 1
        check(n_ok <= 2 * ATTEST_BURST, "no rate limit after %d attestation calls" % n_ok)
    took = time.monotonic() - start
    refill = int(took * ATTEST_PER_MINUTE / 60) + 1
    check(ATTEST_BURST <= n_ok <= ATTEST_BURST + refill,
          "%d calls before the limit in %.1f s (burst %d)" % (n_ok, took, ATTEST_BURST))
    # Challenges draw from the same bucket, and join tokens are not consumed by refused calls.
    c.refused("X509PopChallenge", pb.X509PopChallengeRequest(), pb.X509PopChallengeResponse,
              grpc.StatusCode.RESOURCE_EXHAUSTED, "too many attestation attempts")
    tok = join_token(s)
    _, csr = new_csr()
    c.refused("Attest", pb.AttestRequest(join_token=tok, csr=csr), pb.AttestResponse,
              grpc.StatusCode.RESOURCE_EXHAUSTED, "too many attestation attempts")
    limited = [l for l in audit_lines(audit, "agent.attest")
               if "result=refused reason='rate limited'" in l]
    check(len(limited) >= 3, "rate-limited attempts are audited: %r" % limited)
    # The limit refills: one token every 60/ATTEST_PER_MINUTE s.
    time.sleep(60 / ATTEST_PER_MINUTE + 0.2)
    r = c.call("Attest", pb.AttestRequest(join_token=tok, csr=csr), pb.AttestResponse)
    eq(r.agent_id, agent_id_of_token(tok), "attestation once the bucket refilled")
    check_result_words(audit)
    c.close()


def test_signing_only_own_entries(t):
    """With a real agent's SVID: its own entry is signed; another agent's entry and an entry
    that does not exist get the same PermissionDenied, and each refusal is audited."""
    audit = t.path("audit.log")
    s = t.server(config={"server": {"audit_log_file": audit}})
    tok_a, tok_b = join_token(s), join_token(s)
    a = Agent(t, s, join_token=tok_a).start()
    b = Agent(t, s, name="agent-b", join_token=tok_b).start()
    mine = create_entry(s, "spiffe://%s/mine" % TD, agent_id_of_token(tok_a))
    theirs = create_entry(s, "spiffe://%s/theirs" % TD, agent_id_of_token(tok_b))
    a.wait_svids(["spiffe://%s/mine" % TD])
    b.wait_svids(["spiffe://%s/theirs" % TD])
    n_audit = {x: len(audit_lines(audit, x)) for x in ("svid.sign.x509", "svid.sign.jwt")}
    eq(agent_count(s), 2, "agent count with two real agents")
    eq(s.cli("agent", "count").ok().out, "2 attested agents\n", "agent count text")

    with open(os.path.join(a.data_dir, "agent-svid.pem")) as f:
        state = f.read()
    c = NodeClient(s, "".join(pem_blocks(state)), pem_blocks(state, "PRIVATE KEY")[0])
    P = grpc.StatusCode.PERMISSION_DENIED
    res = c.sign_x509([mine, theirs, UNKNOWN_ENTRY])
    eq([r.entry_id for r in res], [mine, theirs, UNKNOWN_ENTRY], "one result per request")
    eq(res[0].status.code, 0, "own entry signed: %s" % res[0].status.message)
    check(res[0].svid_chain, "own entry has a chain")
    refused = [(r.status.code, r.status.message, len(r.svid_chain)) for r in res[1:]]
    eq(refused, [(P.value[0], "entry is not authorised for this agent", 0)] * 2,
       "another agent's entry and an unknown one")
    check(c.jwt(mine).token, "own entry gets a JWT-SVID")
    d1 = c.jwt_refused(theirs, P, ".")
    d2 = c.jwt_refused(UNKNOWN_ENTRY, P, ".")
    eq((d1, d2), ("entry is not authorised for this agent",) * 2, "JWT-SVID refusals")

    # The audit log keeps the precise reason.
    for action in ("svid.sign.x509", "svid.sign.jwt"):
        lines = audit_lines(audit, action)[n_audit[action]:]
        got = sorted((re.search(r"object='([^']*)'", l).group(1),
                      re.search(r" result=(\S+)", l).group(1)) for l in lines)
        eq(got, sorted([(mine, "ok"), (theirs, "denied"), (UNKNOWN_ENTRY, "denied")]),
           "%s audit lines:\n%s" % (action, "\n".join(lines)))
        for l in lines:
            contains(l, "caller=%s " % agent_id_of_token(tok_a), "audit line names the agent")
            if "'%s'" % theirs in l:
                contains(l, "reason='entry of another agent'", "audit reason")
            if "'%s'" % UNKNOWN_ENTRY in l:
                contains(l, "reason='no such entry'", "audit reason")
    check_result_words(audit)
    c.close()

    # A workload SVID of this trust domain is no agent SVID.
    minted = s.cli("x509", "mint", "-spiffeID", "spiffe://%s/workload" % TD).ok().out
    w = NodeClient(s, "".join(pem_blocks(minted.split("Private key:")[0])),
                   pem_blocks(minted, "PRIVATE KEY")[0])
    w.refused("BatchNewX509SVID", pb.BatchNewX509SVIDRequest(), pb.BatchNewX509SVIDResponse,
              P, "is not an agent ID")
    w.jwt_refused(mine, P, "is not an agent ID")
    w.close()
    # Without a client certificate: unauthenticated.
    n = NodeClient(s)
    n.refused("NewJWTSVID", pb.NewJWTSVIDRequest(entry_id=mine, audience=["aud"]),
              pb.NewJWTSVIDResponse, grpc.StatusCode.UNAUTHENTICATED, "agent SVID is required")
    n.close()


def test_agent_with_intermediates(t):
    """sigil-agent with node_attestor.x509pop.intermediates_path: root -> intermediate -> node."""
    root = make_ca(t, "node-root")
    inter = make_intermediate(t, root, "node-inter")
    node = make_node_cert(t, inter, "rack-7")
    s = t.server(config=x509pop_server_config(root[0]))
    cfg = x509pop_agent_config(node)
    cfg["node_attestor"]["x509pop"]["intermediates_path"] = inter[0]
    a = Agent(t, s, config=cfg).start()
    agent_id = "spiffe://%s/sigil/agent/x509pop/%s" % (TD, sha1_fingerprint(t, node[0]))
    eq(a.debug()["agent_id"], agent_id, "agent ID")
    create_entry(s, "spiffe://%s/rack-job" % TD, agent_id)
    a.wait_svids(["spiffe://%s/rack-job" % TD])
    eq(agent_count(s), 1, "agent count")
    # Without the intermediate, the same node is refused.
    b = Agent(t, s, name="agent2", config=x509pop_agent_config(node)).spawn()
    eq(b.wait_exit(20), 1, "exit status without the intermediate")
    contains(b.log_since_start(), "does not chain to the x509pop CAs", "the refusal")


def test_expired_agent_svid(t):
    """A stored agent SVID that expired while the agent was down: x509pop re-attests, a
    join token agent says it cannot and exits 1."""
    ca = make_ca(t, "node-ca")
    node = make_node_cert(t, ca, "node-e")
    s = t.server(config=x509pop_server_config(ca[0], {"agent_svid_ttl": "8s"}))
    tok = join_token(s)
    x = Agent(t, s, config=x509pop_agent_config(node)).start()
    j = Agent(t, s, name="agent-jt", join_token=tok).start()
    before = x.debug()
    x.stop()
    j.stop()
    not_after = 0
    for a in (x, j):
        with open(os.path.join(a.data_dir, "agent-svid.pem")) as f:
            leaf = x509.load_pem_x509_certificate(pem_blocks(f.read())[0].encode())
        not_after = max(not_after, leaf.not_valid_after.replace(
            tzinfo=datetime.timezone.utc).timestamp())
    check(not_after - time.time() < 10, "the stored SVIDs last at most the configured 8 s")
    time.sleep(max(0, not_after - time.time()) + 1)

    d = x.start().debug()
    eq(d["agent_id"], before["agent_id"], "the x509pop agent keeps its ID")
    eq(d["attestations"], 1, "the x509pop agent attested again")
    check(d["agent_svid_serial"] != before["agent_svid_serial"], "with a new SVID")
    contains(x.log_since_start(), "expired", "the x509pop agent says why it attests")
    j.spawn()
    eq(j.wait_exit(20), 1, "exit status of the join token agent")
    log = j.log_since_start()
    contains(log, "the stored SVID of agent '%s' expired" % agent_id_of_token(tok), "log")
    contains(log, "join tokens are single use", "log")


if __name__ == "__main__":
    sigiltest.main()
