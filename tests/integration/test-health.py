#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""healthcheck, and every command against a missing, wrong or unresponsive socket."""

import os
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, contains, eq  # noqa: E402

TD = sigiltest.TRUST_DOMAIN
SID = "spiffe://%s/tool" % TD

# One invocation of every admin command, with its required flags.
EVERY_COMMAND = [
    ["entry", "create", "-spiffeID", SID, "-parentID", "spiffe://%s/n" % TD,
     "-selector", "unix:uid:1"],
    ["entry", "show"],
    ["entry", "update", "-entryID", "00000000-0000-4000-8000-000000000000", "-spiffeID", SID,
     "-parentID", "spiffe://%s/n" % TD, "-selector", "unix:uid:1"],
    ["entry", "delete", "-entryID", "00000000-0000-4000-8000-000000000000"],
    ["entry", "count"],
    ["agent", "list"],
    ["agent", "show", "-spiffeID", "spiffe://%s/sigil/agent/x" % TD],
    ["agent", "evict", "-spiffeID", "spiffe://%s/sigil/agent/x" % TD],
    ["agent", "ban", "-spiffeID", "spiffe://%s/sigil/agent/x" % TD],
    ["agent", "count"],
    ["token", "generate"],
    ["bundle", "show"],
    ["bundle", "list"],
    ["bundle", "delete", "-id", "partner.test"],
    ["x509", "mint", "-spiffeID", SID],
    ["jwt", "mint", "-spiffeID", SID, "-audience", "a"],
    ["healthcheck"],
]

# Wall-clock bound for a refused connection (the CLI waits at most 1 s to connect).
QUICK = 2.5


def test_healthy(t):
    s = t.server()
    r = s.cli("healthcheck").ok()
    eq((r.out, r.err), ("Server is healthy.\n", ""), "healthcheck output")
    r = s.cli("healthcheck", "-shallow").ok()
    eq(r.out, "Server is healthy.\n", "healthcheck -shallow")
    s.cli("entry", "create", "-spiffeID", SID, "-parentID", "spiffe://%s/n" % TD,
          "-selector", "unix:uid:1").ok()
    r = s.cli("healthcheck", "-verbose").ok()
    contains(r.out, TD, "healthcheck -verbose names the trust domain")
    contains(r.out, "Server is healthy.", "healthcheck -verbose")
    for extra in ([], ["-verbose"], ["-shallow"]):
        r = s.cli("healthcheck", *extra, output="json").ok()
        eq(r.out.count("\n"), 1, "healthcheck %s-output json prints one line" % " ".join(extra))
        eq(r.json(), s.cli("healthcheck", output="json").ok().json(),
           "healthcheck %s-output json" % " ".join(extra))
    j = s.cli("healthcheck", output="json").ok().json()
    eq(j["serving"], True, "JSON serving")
    eq(j["trust_domain"], TD, "JSON trust_domain")
    eq(j["entries"], "1", "JSON entries (int64 string)")
    eq(j["agents"], "0", "JSON agents")
    check(isinstance(j["version"], str) and j["version"], "JSON version")
    s.refuses("healthcheck", "-bogus", rc=2, match=r"flag provided but not defined: -bogus")


def test_down(t):
    s = t.server()
    sock = s.sock
    s.stop()
    check(not os.path.exists(sock), "the socket is removed at exit")
    r = s.cli("healthcheck").fails(1, r"^Server is unhealthy: cannot reach sigil-server at "
                                      r"'%s': no such socket" % sock).one_error_line()
    check(r.elapsed < QUICK, "healthcheck of a stopped server took %.2f s" % r.elapsed)
    eq(r.out, "", "nothing on stdout")


def every_command_fails(t, sock, match, health_match):
    """Every command against sock must exit 1 quickly with one line matching match."""
    for args in EVERY_COMMAND:
        r = t.run([sigiltest.SERVER_BIN] + args + ["-socketPath", sock])
        r.fails(1, health_match if args == ["healthcheck"] else match).one_error_line()
        check(r.elapsed < QUICK, "%s took %.2f s" % (" ".join(args), r.elapsed))


def test_missing_socket(t):
    every_command_fails(
        t, t.path("nowhere", "api.sock"),
        r"^Error: connection error: cannot reach sigil-server at '.*/nowhere/api\.sock': "
        r"no such socket", r"^Server is unhealthy: .*no such socket")


def test_nobody_listening(t):
    path = t.path("stale.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()           # a socket file left behind by a dead server
    every_command_fails(t, path, r"^Error: connection error: .*connection refused",
                        r"^Server is unhealthy: .*connection refused")


def test_not_a_socket(t):
    path = t.write("regular-file", "x")
    every_command_fails(t, path, r"^Error: connection error: .*'%s'" % path,
                        r"^Server is unhealthy: .*'%s'" % path)


def test_server_not_accepting(t):
    path = t.path("full.sock")
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(0)
    fillers = []
    try:
        # Fill the listen backlog so that a further connect() cannot complete.
        for _ in range(8):
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.setblocking(False)
            try:
                c.connect(path)
            except BlockingIOError:
                c.close()
                break
            fillers.append(c)
        for args in (["healthcheck"], ["entry", "count"], ["bundle", "show"]):
            r = t.run([sigiltest.SERVER_BIN] + args + ["-socketPath", path])
            r.fails(1, r"timed out").one_error_line()
            check(r.elapsed < QUICK, "%s took %.2f s" % (" ".join(args), r.elapsed))
    finally:
        for c in fillers:
            c.close()
        ls.close()


def test_wrong_server_socket(t):
    """A socket of another server is not ours: the commands still work against it, and a
    typo in the path fails quickly and cleanly while the server keeps serving."""
    s = t.server()
    r = t.run([sigiltest.SERVER_BIN, "entry", "count", "-socketPath", s.sock + ".typo"])
    r.fails(1, r"no such socket").one_error_line()
    check(r.elapsed < QUICK, "typo'd socket path took %.2f s" % r.elapsed)
    r = t.run([sigiltest.SERVER_BIN, "entry", "count", "-socketPath", os.path.dirname(s.sock)])
    r.fails(1, r"^Error: connection error").one_error_line()
    check(s.healthy(), "server healthy afterwards")


if __name__ == "__main__":
    sigiltest.main()
