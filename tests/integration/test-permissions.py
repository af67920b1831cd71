#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Who may use the admin socket: root, the server's own uid, admin_uids; nobody else.

The tests that switch uids need root and setpriv; they skip (77) otherwise.
"""

import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, contains, eq, require_root  # noqa: E402

TD = sigiltest.TRUST_DOMAIN
NOBODY = 65534          # neither root, nor the server's uid, nor in admin_uids
ADMIN = 42421           # listed in admin_uids
SERVER_UID = 42422      # runs the server in test_non_root_server
DENIED = r"^Error: .*rpc error: code = PermissionDenied desc = uid %d is not allowed"

# Commands of every kind, each of which must be refused to a stranger.
PRIVILEGED = [
    ["entry", "create", "-spiffeID", "spiffe://%s/w" % TD, "-parentID",
     "spiffe://%s/n" % TD, "-selector", "unix:uid:1"],
    ["entry", "show"],
    ["entry", "count"],
    ["entry", "delete", "-entryID", "00000000-0000-4000-8000-000000000000"],
    ["agent", "list"],
    ["agent", "count"],
    ["token", "generate"],
    ["token", "generate", "-spiffeID", "spiffe://%s/node" % TD],
    ["bundle", "show"],
    ["bundle", "list"],
    ["bundle", "delete", "-id", "partner.test"],
    ["x509", "mint", "-spiffeID", "spiffe://%s/w" % TD],
    ["jwt", "mint", "-spiffeID", "spiffe://%s/w" % TD, "-audience", "a"],
]


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_default_modes(t):
    s = t.server()
    eq(oct(mode(os.path.dirname(s.sock))), oct(0o700), "socket directory mode by default")
    check(stat.S_ISSOCK(os.stat(s.sock).st_mode), "the admin socket is a socket")
    eq(oct(mode(s.sock)), oct(0o600), "socket mode by default")
    eq(oct(mode(s.data_dir)), oct(0o700), "data directory mode")


def test_stranger_cannot_reach_default_socket(t):
    require_root()
    s = t.server()
    os.chmod(t.dir, 0o711)
    os.chmod(s.dir, 0o755)
    r = s.cli("entry", "count", uid=NOBODY).fails(1, r"permission denied").one_error_line()
    check(r.elapsed < 2.5, "refused within 2.5 s (took %.2f s)" % r.elapsed)
    s.cli("healthcheck", uid=NOBODY).fails(1, r"^Server is unhealthy: .*permission denied")
    check(s.healthy(), "server healthy")


def test_admin_uids(t):
    require_root()
    s = t.server(config={"server": {"admin_uids": [ADMIN]}})
    eq(oct(mode(os.path.dirname(s.sock))), oct(0o711), "socket directory with admin_uids")
    eq(oct(mode(s.sock)), oct(0o666), "socket mode with admin_uids (the uid check decides)")
    os.chmod(t.dir, 0o711)
    os.chmod(s.dir, 0o755)

    for args in PRIVILEGED:
        s.cli(*args, uid=NOBODY).fails(1, DENIED % NOBODY).one_error_line()
    h = s.cli("healthcheck", uid=NOBODY).fails(1, r"^Server is unhealthy: .*PermissionDenied")
    h.one_error_line()
    s.cli("healthcheck", "-shallow", uid=NOBODY).ok()     # any gRPC answer counts
    j = s.cli("healthcheck", "-shallow", uid=NOBODY, output="json").ok().json()
    eq(j["serving"], True, "healthcheck -shallow -output json of a refused caller")
    eq(s.cli("entry", "count").ok().out, "0 registration entries\n",
       "nothing was created by refused calls")
    check(s.healthy(), "server healthy after refusals")

    # A uid of admin_uids may do everything.
    s.cli("entry", "create", "-spiffeID", "spiffe://%s/w" % TD, "-parentID",
          "spiffe://%s/n" % TD, "-selector", "unix:uid:1", uid=ADMIN).ok()
    eq(s.cli("entry", "count", uid=ADMIN).ok().out, "1 registration entry\n", "admin uid")
    s.cli("x509", "mint", "-spiffeID", "spiffe://%s/w" % TD, uid=ADMIN).ok()
    s.cli("token", "generate", uid=ADMIN).ok()
    s.cli("healthcheck", uid=ADMIN).ok()

    # Refusals are audited with the caller's uid.
    log = s.log()
    contains(log, "caller=uid=%d" % NOBODY, "refused caller in the audit log")
    check(any("uid=%d" % NOBODY in l and "denied" in l for l in log.splitlines()),
          "a denied audit line for uid %d" % NOBODY)


def test_non_root_server(t):
    """A server running as an ordinary uid admits root, itself and admin_uids only."""
    require_root()
    s = t.server(uid=SERVER_UID, config={"server": {"admin_uids": [ADMIN]}})
    os.chmod(s.dir, 0o755)
    eq(os.stat(s.data_dir).st_uid, SERVER_UID, "data dir owned by the server's uid")
    for uid in (None, SERVER_UID, ADMIN):
        r = s.cli("entry", "count", uid=uid).ok()
        check(r.out.endswith("registration entries\n"), "uid %s admitted" % uid)
    s.cli("entry", "count", uid=NOBODY).fails(1, DENIED % NOBODY).one_error_line()
    s.cli("token", "generate", uid=NOBODY).fails(1, DENIED % NOBODY).one_error_line()
    s.cli("token", "generate", uid=SERVER_UID).ok()
    keys = os.path.join(s.data_dir, "keys")
    check(all(os.stat(os.path.join(keys, f)).st_uid == SERVER_UID for f in os.listdir(keys)),
          "key files owned by the server's uid")


if __name__ == "__main__":
    sigiltest.main()
