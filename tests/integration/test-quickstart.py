#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""scripts/quickstart, README's first command, with the binaries of this build: it starts
a server and an agent, registers the current user, fetches an X.509-SVID (openssl verify)
and a JWT-SVID (validated by the agent), and with -stop leaves nothing running."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, contains, eq  # noqa: E402

SCRIPT = os.path.join(sigiltest.SOURCE_DIR, "scripts", "quickstart")


def pid_alive(path):
    with open(path) as f:
        pid = int(f.read())
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_quickstart_stop(t):
    d = t.path("qs")
    env = dict(os.environ, QUICKSTART_DIR=d, QUICKSTART_PORT=str(sigiltest.free_port()),
               SIGIL_BUILD_DIR=sigiltest.BUILD_DIR)
    r = sigiltest.run(["bash", SCRIPT, "-stop"], env=env, timeout=120 * sigiltest.SLOW)
    eq(r.rc, 0, "quickstart exit status (stderr: %s)" % r.err)
    contains(r.out, "svid.0.pem: OK", "openssl verify of the X.509-SVID")
    contains(r.out, "URI:spiffe://example.org/quickstart/", "the SPIFFE ID in the certificate")
    contains(r.out, "token(spiffe://example.org/quickstart/", "a JWT-SVID")
    contains(r.out, "SVID is valid.", "the JWT-SVID validated")
    contains(r.out, "stopped both daemons", "-stop says so")
    for name in ("agent.pid", "server.pid"):
        check(not pid_alive(os.path.join(d, name)), name + ": the daemon is gone")


def test_quickstart_usage(t):
    r = sigiltest.run(["bash", SCRIPT, "-bogus"], timeout=30)
    eq(r.rc, 2, "usage error status")
    contains(r.err, "usage: scripts/quickstart", "usage")


if __name__ == "__main__":
    sigiltest.main()
