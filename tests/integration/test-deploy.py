#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""deploy/: the example configurations run a real server and agent (x509pop, the
workload_api section) with only their paths moved to a temp dir, and the systemd units
pass `systemd-analyze verify` with ExecStart pointing at this build."""

import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
import workloadtest as wt  # noqa: E402
from agenttest import (AGENT_BIN, TD, Agent, create_entry, eq, make_ca,  # noqa: E402
                       make_node_cert, sha1_fingerprint)

DEPLOY = os.path.join(sigiltest.SOURCE_DIR, "deploy")


def example(name):
    with open(os.path.join(DEPLOY, "config", name)) as f:
        return json.load(f)


def test_example_configs_run(t):
    os.chmod(t.dir, 0o711)
    ca = make_ca(t, "node-ca")
    node = make_node_cert(t, ca, "node1")

    cfg = example("server.json")
    eq(cfg["server"]["trust_domain"], TD, "the examples use the trust domain of the tests")
    cfg["datastore"]["path"] = t.path("server", "data", "datastore.sqlite3")
    cfg["node_attestors"]["x509pop"]["ca_bundle_path"] = ca[0]
    s = t.server(config=cfg)    # data dir, sockets and port given as flags

    cfg = example("agent.json")
    cfg["node_attestor"]["x509pop"] = {"certificate_path": node[0], "private_key_path": node[1]}
    a = Agent(t, s, config=cfg)
    agent_id = "spiffe://%s/sigil/agent/x509pop/%s" % (TD, sha1_fingerprint(t, node[0]))
    exe = os.path.realpath(sys.executable)
    create_entry(s, "spiffe://%s/deployed" % TD, agent_id,
                 ["unix:uid:%d" % os.getuid(), "unix:path:%s" % exe])
    a.start()
    a.wait_svids(["spiffe://%s/deployed" % TD])
    # The example turns unix:path on: this Python matches the entry through it.
    with wt.Client(a.api_sock) as c:
        eq(wt.ids(c.x509()), ["spiffe://%s/deployed" % TD], "the workload's identity")


def test_systemd_units_verify(t):
    tool = shutil.which("systemd-analyze")
    if not tool:
        sigiltest.skip("no systemd-analyze")
    bins = {"/usr/local/bin/sigil-server": sigiltest.SERVER_BIN,
            "/usr/local/bin/sigil-agent": AGENT_BIN}
    for unit in ("sigil-server.service", "sigil-agent.service"):
        with open(os.path.join(DEPLOY, "systemd", unit)) as f:
            text = f.read()
        for path, real in bins.items():
            text = text.replace(path, real)
        path = t.write(unit, text)
        r = sigiltest.run([tool, "verify", path], timeout=60)
        eq((r.rc, r.err.strip()), (0, ""), "systemd-analyze verify %s" % unit)


if __name__ == "__main__":
    sigiltest.main()
