#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Audit: one line per privileged action naming the caller and the action, in
audit_log_file; and no secret (join token, JWT, private key) in any log, even at debug."""

import glob
import json
import os
import re
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, eq, not_contains, pem_blocks  # noqa: E402

TD = sigiltest.TRUST_DOMAIN
SID = "spiffe://%s/audited" % TD
NODE = "spiffe://%s/node" % TD


def audit_lines(path, action):
    with open(path) as f:
        return [l for l in f.read().splitlines() if " action=%s " % action in l]


def pem_body_lines(text):
    """The base64 lines of every PEM block in text (what a leaked key would show)."""
    return [l for l in text.splitlines() if l and not l.startswith("-----") and len(l) >= 40]


def test_audit_lines(t):
    audit = t.path("audit.log")
    s = t.server(config={"server": {"audit_log_file": audit, "log_level": "debug"}})
    uid = os.getuid()
    me = "caller=uid=%d pid=" % uid

    e = s.cli("entry", "create", "-spiffeID", SID, "-parentID", NODE, "-selector",
              "unix:uid:1", output="json").ok().json()["results"][0]["entry"]
    s.cli("entry", "create", "-spiffeID", SID, "-parentID", NODE, "-selector",
          "unix:uid:1").fails(1, "AlreadyExists")
    s.cli("entry", "update", "-entryID", e["id"], "-spiffeID", SID, "-parentID", NODE,
          "-selector", "unix:uid:2").ok()
    s.cli("entry", "delete", "-entryID", e["id"]).ok()
    tok1 = s.cli("token", "generate").ok().out.split()[1]
    tok2 = s.cli("token", "generate", "-spiffeID", "spiffe://%s/host/h1" % TD).ok().out.split()[1]
    minted = s.cli("x509", "mint", "-spiffeID", SID).ok().out
    jwt = s.cli("jwt", "mint", "-spiffeID", SID, "-audience", "aud").ok().out.strip()
    fed = t.write("fed.pem", s.bundle_pem())
    s.cli("bundle", "set", "-id", "partner.test", "-path", fed).ok()
    s.cli("bundle", "delete", "-id", "partner.test").ok()
    s.cli("agent", "evict", "-spiffeID", "spiffe://%s/sigil/agent/x" % TD).fails(1)

    eq(oct(stat.S_IMODE(os.stat(audit).st_mode)), oct(0o600), "audit file mode")
    expect = [
        # action, object, number of lines, results
        ("entry.create", None, 2, None),
        ("entry.update", e["id"], 1, ["ok"]),
        ("entry.delete", e["id"], 1, ["ok"]),
        ("token.create", None, 2, ["ok", "ok"]),
        ("svid.mint.x509", SID, 1, ["ok"]),
        ("svid.mint.jwt", SID, 1, ["ok"]),
        ("bundle.set", "partner.test", 1, ["ok"]),
        ("bundle.delete", "partner.test", 1, ["ok"]),
        ("agent.evict", None, 1, None),
    ]
    for action, obj, n, results in expect:
        lines = audit_lines(audit, action)
        eq(len(lines), n, "audit lines for %s:\n%s" % (action, "\n".join(lines)))
        for l in lines:
            check(me in l, "audit line names the caller uid %d: %r" % (uid, l))
            if obj:
                check("object='%s'" % obj in l, "audit line names the object: %r" % l)
        got = [re.search(r" result=(\S+)", l).group(1) for l in lines]
        if results:
            eq(got, results, "results of %s" % action)
    creates = audit_lines(audit, "entry.create")
    check("result=ok" in creates[0] and "result=ok" not in creates[1],
          "a refused create is audited with its failure: %r" % creates)
    check("result=ok" not in audit_lines(audit, "agent.evict")[0], "failed evict audited")

    # Secrets: neither tokens, nor the JWT, nor any private key in the log or audit file.
    logs = {"server log": s.log(), "audit file": open(audit).read()}
    keys = ""
    for p in glob.glob(os.path.join(s.data_dir, "keys", "*.pem")):
        keys += open(p).read()
    check(pem_body_lines(keys), "found the CA's key files")
    secrets = [("join token", tok1), ("join token", tok2), ("JWT-SVID", jwt),
               ("JWT-SVID signature", jwt.split(".")[2])]
    secrets += [("CA key material", l) for l in pem_body_lines(keys)]
    secrets += [("minted private key", l) for l in pem_body_lines(
        "".join(pem_blocks(minted, "PRIVATE KEY")))]
    for where, text in logs.items():
        for what, value in secrets:
            not_contains(text, value, "%s in the %s" % (what, where))


RESULT_WORDS = ("ok", "failed", "refused", "denied")


def test_audit_failure_results(t):
    """A failure's result is one word; what went wrong is in reason='...'."""
    audit = t.path("audit.log")
    s = t.server(config={"server": {"audit_log_file": audit}})
    e = s.cli("entry", "create", "-spiffeID", SID, "-parentID", NODE, "-selector",
              "unix:uid:1", output="json").ok().json()["results"][0]["entry"]
    s.cli("entry", "create", "-spiffeID", SID, "-parentID", NODE, "-selector",
          "unix:uid:1").fails(1, "AlreadyExists")
    s.cli("entry", "update", "-entryID", "00000000-0000-4000-8000-00000000dead", "-spiffeID",
          SID, "-parentID", NODE, "-selector", "unix:uid:2").fails(1)
    s.cli("entry", "delete", "-entryID", "00000000-0000-4000-8000-00000000dead").fails(1)
    s.cli("entry", "delete", "-entryID", e["id"]).ok()
    s.cli("x509", "mint", "-spiffeID", "spiffe://other.test/x").fails(1)
    s.cli("jwt", "mint", "-spiffeID", "spiffe://other.test/x", "-audience", "a").fails(1)
    fed = t.write("fed.pem", s.bundle_pem())
    s.cli("bundle", "set", "-id", TD, "-path", fed).fails(1)
    s.cli("bundle", "delete", "-id", "nobody.test").fails(1)
    failures = [
        ("entry.create", "refused", r"spiffe_id='%s' reason='.*already exists" % SID),
        ("entry.update", "refused", r"reason='.+'"),
        ("entry.delete", "refused", r"reason='entry not found'"),
        ("svid.mint.x509", "refused", r"reason='.*other\.test"),
        ("svid.mint.jwt", "refused", r"reason='.*other\.test"),
        ("bundle.set", "refused", r"reason='.*own trust domain"),
        ("bundle.delete", "refused", r"reason='no bundle for trust domain 'nobody\.test''"),
    ]
    for action, result, reason in failures:
        lines = [l for l in audit_lines(audit, action) if " result=ok" not in l]
        eq(len(lines), 1, "one failed %s audited:\n%s" % (action, "\n".join(lines)))
        m = re.search(r" result=(\S+)( (.*))?$", lines[0])
        eq(m.group(1), result, "result of a failed %s: %r" % (action, lines[0]))
        check(re.search(reason, m.group(3) or ""), "%s: the reason %r after the result: %r"
              % (action, reason, lines[0]))
    oks = [l for l in audit_lines(audit, "entry.delete") if " result=ok" in l]
    check(len(oks) == 1 and "reason=" not in oks[0], "no reason on success: %r" % oks)
    with open(audit) as f:
        for l in f.read().splitlines():
            m = re.search(r" result=(\S+)(?: |$)", l)
            check(m and m.group(1) in RESULT_WORDS, "result is one of %r: %r" % (RESULT_WORDS, l))


def test_audit_json_format(t):
    audit = t.path("audit.json")
    s = t.server(config={"server": {"audit_log_file": audit, "log_format": "json"}})
    s.cli("entry", "create", "-spiffeID", SID, "-parentID", NODE, "-selector",
          "unix:uid:1").ok()
    s.cli("x509", "mint", "-spiffeID", SID).ok()
    s.stop()
    records = []
    for name, text in (("audit file", open(audit).read()), ("log", s.log())):
        for line in text.splitlines():
            if line.startswith("===="):         # the harness's own marker
                continue
            try:
                records.append(json.loads(line))
            except ValueError:
                sigiltest.fail("a line of the %s is not JSON: %r" % (name, line))
    mine = [r for r in records if r.get("audit") and r.get("caller", "").startswith("uid=")]
    eq(sorted(r["action"] for r in mine), ["entry.create", "svid.mint.x509"],
       "audit records of the caller")
    for r in mine:
        eq((r["result"], r["caller"].split()[0]), ("ok", "uid=%d" % os.getuid()),
           "JSON audit record %r" % r)


if __name__ == "__main__":
    sigiltest.main()
