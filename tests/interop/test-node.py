#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The Workload API seen by a Node.js client not written here (@grpc/grpc-js,
@grpc/proto-loader and jose from npm; tests/interop/test-node-client.mjs).

This file starts the real sigil-server and sigil-agent (the integration harness),
registers an entry for the uid it runs as, runs `node test-node-client.mjs` with
SPIFFE_ENDPOINT_SOCKET pointing at the agent, and checks its exit status, the
RESULT line it prints, and the PEM files it wrote (`openssl verify`, URI SAN, key
against leaf, bundles against the server's).

The npm packages come from `scripts/setup` (tests/interop/node_modules). Without
them (or without node) the test skips on a developer's machine and fails when CI
is set or meson was configured with -Dinterop=enabled (see wlapi.missing).

Environment: SIGIL_NODE (default: node on PATH), plus what sigiltest reads.
Run alone: /usr/bin/python3 tests/interop/test-node.py [test_name ...]
"""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wlapi import (HERE, SLOW, TD_ID, check, eq, fail, missing,  # noqa: E402
                   openssl_verify_svid, pem_to_ders, server_bundle_ders,
                   start_without_identity, start_workload, upstream_root_config)
import sigiltest  # noqa: E402  (on sys.path through wlapi)

CLIENT = os.path.join(HERE, "test-node-client.mjs")
NODE_MODULES = os.path.join(HERE, "node_modules")
PACKAGES = ("@grpc/grpc-js", "@grpc/proto-loader", "jose")


def node():
    exe = os.environ.get("SIGIL_NODE") or shutil.which("node")
    if not exe:
        missing("node (nodejs) is not installed")
    absent = [p for p in PACKAGES if not os.path.isdir(os.path.join(NODE_MODULES, p))]
    if absent:
        missing("npm packages %s are not installed in %s" % (" ".join(absent), NODE_MODULES))
    return exe


def run_client(t, agent, mode, spiffe_id=None):
    """Run the Node client in mode; returns (Result, parsed RESULT line)."""
    exe = node()
    out = t.path("node-out")
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, SPIFFE_ENDPOINT_SOCKET="unix://" + agent.api_sock,
               SIGIL_INTEROP_OUT=out, SIGIL_INTEROP_TIMEOUT_MS=str(10000 * SLOW))
    if spiffe_id:
        env.update(SIGIL_INTEROP_SPIFFE_ID=spiffe_id, SIGIL_INTEROP_HINT="interop")
    r = sigiltest.run([exe, CLIENT, mode], timeout=60 * SLOW, env=env,
                      transcript=t.transcript)
    lines = [ln for ln in r.out.splitlines() if ln.startswith("RESULT ")]
    check(len(lines) == 1, "the Node client prints one RESULT line:\n%r" % r)
    res = json.loads(lines[0][len("RESULT "):])
    if r.rc != 0 or res["failures"]:
        fail("the Node client failed (exit %s): %s\n%r" % (r.rc, res["failures"], r))
    print("# node %s: %d checks passed" % (mode, res["checks"]))
    return r, res, out


def node_svids(t, server_config=None):
    """Run the Node client's five calls against a fresh pair and check what it saw and
    wrote; returns its RESULT."""
    s, a, sid = start_workload(t, server_config=server_config)
    r, res, out = run_client(t, a, "svids", sid)
    check(res["checks"] >= 30, "the Node client ran every check (%d)" % res["checks"])
    eq(res["spiffe_id"], sid, "X.509-SVID SPIFFE ID seen by Node")
    eq(res["validate_spiffe_id"], sid, "ValidateJWTSVID SPIFFE ID seen by Node")
    eq(res["jwt_sub"], sid, "JWT-SVID sub verified by jose")
    eq(res["jwt_aud"], ["interop-node", "second"], "JWT-SVID aud verified by jose")
    eq(res["x509_bundle_tds"], [TD_ID], "FetchX509Bundles trust domains")
    eq(res["jwt_bundle_tds"], [TD_ID], "FetchJWTBundles trust domains")
    kids = sorted(k["kid"] for k in s.bundle_spiffe()["keys"] if k.get("use") == "jwt-svid")
    eq(res["jwt_kids"], kids, "JWT authorities seen by Node vs the server's bundle")
    check(res["jwt_kid"] in kids, "the token's kid is a server JWT authority")

    # The PEM files Node wrote from the wire bytes, checked by openssl.
    paths = {"leaf": os.path.join(out, "leaf.pem"), "bundle": os.path.join(out, "bundle.pem"),
             "key": os.path.join(out, "key.pem"), "inter": None}
    if res["chain_len"] > 1:
        paths["inter"] = os.path.join(out, "inter.pem")
    openssl_verify_svid(t, paths, sid)
    server = sorted(server_bundle_ders(s))
    for name in ("bundle.pem", "x509-bundles.pem"):
        with open(os.path.join(out, name)) as f:
            eq(sorted(pem_to_ders(f.read())), server, "%s (from Node) vs `bundle show`" % name)
    return res


def test_node_client(t):
    node()
    res = node_svids(t)
    eq(res["chain_len"], 1, "certificates in x509_svid (the server CA signs leaves)")


def test_node_client_with_intermediate(t):
    node()
    root, cfg = upstream_root_config(t)
    res = node_svids(t, server_config=cfg)
    eq(res["chain_len"], 2, "certificates in x509_svid (leaf, intermediate)")
    eq(res["bundle_len"], 1, "certificates in the bundle (the upstream root)")


def test_node_no_identity(t):
    node()
    s, a = start_without_identity(t)
    run_client(t, a, "no-identity")


if __name__ == "__main__":
    sigiltest.main()
