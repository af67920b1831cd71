#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""The top level of both binaries: --version / version, --help / help / -h (usage on
stdout, exit 0), an unknown or missing command (usage on stderr, exit 2), and every
command listed in the help answering its own -h."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from agenttest import AGENT_BIN  # noqa: E402
from sigiltest import SERVER_BIN, check, contains, eq  # noqa: E402

BINARIES = {"sigil-server": SERVER_BIN, "sigil-agent": AGENT_BIN}


def commands_in_help(text):
    """The command names of the 'Commands:' list."""
    block = text.split("Commands:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  ([a-z]+) ", block, re.M)]


def test_version(t):
    for name, path in BINARIES.items():
        for arg in ("--version", "version", "-version"):
            r = sigiltest.run([path, arg])
            eq(r.rc, 0, "%s %s exit status" % (name, arg))
            check(re.fullmatch(r"%s \d+\.\d+\.\d+\n" % name, r.out),
                  "%s %s prints its name and version: %r" % (name, arg, r.out))


def test_help(t):
    for name, path in BINARIES.items():
        for arg in ("--help", "help", "-h", "-help"):
            r = sigiltest.run([path, arg])
            eq(r.rc, 0, "%s %s exit status" % (name, arg))
            contains(r.out, "Usage: %s <command>" % name, "%s %s usage" % (name, arg))
            for cmd in ("run", "validate", "healthcheck"):
                contains(r.out, "\n  %s " % cmd, "%s %s lists %s" % (name, arg, cmd))
        # Every command listed answers -h with its own usage, exit 0.
        listed = [c for c in commands_in_help(sigiltest.run([path, "help"]).out)
                  if c not in ("help", "version")]
        check(len(listed) >= 5, "%s lists its commands: %r" % (name, listed))
        for cmd in listed:
            r = sigiltest.run([path, cmd, "-h"])
            eq(r.rc, 0, "%s %s -h exit status (stderr: %s)" % (name, cmd, r.err))
            contains(r.out + r.err, "Usage", "%s %s -h usage" % (name, cmd))


def test_usage_errors(t):
    for name, path in BINARIES.items():
        r = sigiltest.run([path, "frobnicate"])
        eq(r.rc, 2, "%s with an unknown command" % name)
        contains(r.err, "unknown command 'frobnicate'", "%s names the command" % name)
        contains(r.err, "Usage: %s" % name, "%s prints usage" % name)
        r = sigiltest.run([path])
        eq(r.rc, 2, "%s without a command" % name)
        contains(r.err, "Usage: %s" % name, "%s prints usage" % name)


if __name__ == "__main__":
    sigiltest.main()
