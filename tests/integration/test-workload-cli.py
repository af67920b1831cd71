#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`sigil-agent api` against the real agent: fetch x509 (-write files that `openssl
verify` accepts, text, -output json), SPIFFE_ENDPOINT_SOCKET when -socketPath is absent,
fetch jwt / validate jwt (text and json), watch printing an update after an entry change
and ending when the identity goes, and clear errors with non-zero exits (no socket, a dead
socket, no identity, bad flags and commands)."""

import base64
import json
import os
import re
import socket
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
import workloadtest as wt  # noqa: E402
from agenttest import (AGENT_BIN, SLOW, TD, check, create_entry, entry_args, eq,  # noqa: E402
                       make_ca, openssl)

OTHER_UID = 4242


def sid(path):
    return "spiffe://%s%s" % (TD, path)


def api(t, *args, sock=None, env=None, uid=None):
    """Run `sigil-agent api ARGS [-socketPath sock]`; env replaces the environment."""
    argv = [AGENT_BIN, "api"] + [str(x) for x in args]
    if sock:
        argv += ["-socketPath", sock]
    if uid is not None:
        argv = sigiltest.as_uid(uid) + argv
    if env is None:
        return t.run(argv)
    return sigiltest.run(argv, env=env, timeout=30 * SLOW, transcript=t.transcript)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "SPIFFE_ENDPOINT_SOCKET"}
    env.update(extra)
    return env


def fails_clearly(r, rc, pattern, what):
    """rc, and stderr starting with 'Error: ' and matching pattern."""
    check(r.rc == rc, "%s: exit status %d expected:\n%r" % (what, rc, r))
    check(r.err.startswith("Error: "), "%s: stderr starts with 'Error: ':\n%r" % (what, r))
    check(re.search(pattern, r.err), "%s: stderr matches %r:\n%r" % (what, pattern, r))
    if rc == 2:
        sigiltest.contains(r.err, "Usage: sigil-agent api", "%s: the usage follows" % what)
    else:
        eq(len(r.err.splitlines()), 1, "%s: one line on stderr" % what)


def test_fetch_x509_write(t):
    s, a, agent_id, made = wt.setup(t, entries=[("/one", ["unix:uid:0"], [])])
    ca = make_ca(t, "partner-ca")
    s.cli("bundle", "set", "-id", "partner.test", "-path", ca[0]).ok()
    create_entry(s, sid("/two"), agent_id, ["unix:uid:0", "unix:gid:0"],
                 extra=["-federatesWith", "partner.test"])
    a.wait_svids([sid("/one"), sid("/two")])
    with wt.Client(a.api_sock) as c:
        wt.wait_for(lambda: c.x509().federated_bundles, 5 * SLOW, "the federated bundle")
        default = wt.ids(c.x509())
    out = t.path("out")
    os.mkdir(out)
    r = api(t, "fetch", "x509", "-write", out, sock=a.api_sock).ok()
    files = sorted(os.listdir(out))
    eq(files, ["bundle.0.pem", "bundle.1.pem", "federated_bundle.0.0.pem",
               "federated_bundle.1.0.pem", "svid.0.key", "svid.0.pem", "svid.1.key",
               "svid.1.pem"], "files written")
    for f in files:
        sigiltest.contains(r.out, "Wrote %s\n" % os.path.join(out, f), "stdout names %s" % f)
    for i, spiffe_id in enumerate(default):
        p = lambda name: os.path.join(out, name % i)  # noqa: E731
        v = openssl("verify", "-CAfile", p("bundle.%d.pem"), p("svid.%d.pem"), t=t)
        check(v.rc == 0 and v.out.strip().endswith(": OK"), "openssl verify:\n%r" % v)
        san = openssl("x509", "-in", p("svid.%d.pem"), "-noout", "-ext", "subjectAltName",
                      t=t).ok().out
        sigiltest.contains(san, "URI:" + spiffe_id, "svid.%d.pem is the %d-th identity" % (i, i))
        eq(stat.S_IMODE(os.stat(p("svid.%d.key")).st_mode), 0o600, "key file mode")
        check(open(p("svid.%d.key")).read().startswith("-----BEGIN PRIVATE KEY-----"),
              "the key is PKCS#8 PEM")
        eq(openssl("pkey", "-in", p("svid.%d.key"), "-pubout", t=t).ok().out,
           openssl("x509", "-in", p("svid.%d.pem"), "-noout", "-pubkey", t=t).ok().out,
           "svid.%d.key belongs to svid.%d.pem" % (i, i))
        eq(open(p("federated_bundle.%d.0.pem")).read(), open(ca[0]).read(),
           "the federated bundle, PEM")
    eq(open(os.path.join(out, "bundle.0.pem")).read(), s.bundle_pem(), "bundle.0.pem")
    # A directory that does not exist is a clear error.
    fails_clearly(api(t, "fetch", "x509", "-write", t.path("missing", "dir"), sock=a.api_sock),
                  1, r"cannot write '.*missing/dir/svid.0.pem'", "-write to a missing dir")


def test_fetch_x509_text_and_json(t):
    s, a, agent_id, _ = wt.setup(t, entries=[("/text", ["unix:uid:0"], ["-hint", "blue"])])
    r = api(t, "fetch", "x509", sock=a.api_sock).ok()
    check(re.match(r"Received 1 svid after [0-9.]+ms\n", r.out), "first line:\n%r" % r)
    sigiltest.contains(r.out, "SPIFFE ID:\t\t%s\n" % sid("/text"), "SPIFFE ID line")
    sigiltest.contains(r.out, "Hint:\t\t\tblue\n", "hint line")
    check(re.search(r"SVID Valid Until:\t\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC\n", r.out),
          "validity lines:\n%r" % r)
    sigiltest.contains(r.out, "CA #1 Valid After:", "the bundle's CA")
    j = api(t, "fetch", "x509", "-output", "json", sock=a.api_sock).ok().json()
    eq(len(j["svids"]), 1, "JSON svids")
    x = j["svids"][0]
    eq((x["spiffe_id"], x["hint"]), (sid("/text"), "blue"), "JSON spiffe_id and hint")
    leaf = t.write("leaf.pem", x["x509_svid"])
    ca = t.write("ca.pem", s.bundle_pem())
    v = openssl("verify", "-CAfile", ca, leaf, t=t)
    check(v.rc == 0, "the JSON x509_svid verifies:\n%r" % v)
    with open(leaf) as f:
        der = base64.b64decode("".join(f.read().splitlines()[1:-1]))
    eq(x["expires_at"], wt.cert_dates(t, der)[1], "JSON expires_at is notAfter")
    eq(j["federated_bundles"], {}, "JSON federated_bundles")


def test_endpoint_socket_env(t):
    s, a, _, _ = wt.setup(t, entries=[("/env", ["unix:uid:0"], [])])
    for value in ("unix://" + a.api_sock, "unix:" + a.api_sock):
        r = api(t, "fetch", "x509", env=clean_env(SPIFFE_ENDPOINT_SOCKET=value)).ok()
        sigiltest.contains(r.out, sid("/env"), "fetch through SPIFFE_ENDPOINT_SOCKET=%s" % value)
    r = api(t, "fetch", "jwt", "-audience", "e",
            env=clean_env(SPIFFE_ENDPOINT_SOCKET="unix://" + a.api_sock)).ok()
    sigiltest.contains(r.out, "token(%s)" % sid("/env"), "fetch jwt through the variable")
    # Not a unix:///path URI: refused, naming the variable.
    for bad in ("tcp://127.0.0.1:8081", "unix://host" + a.api_sock, "unix:relative/api.sock",
                "unix://" + a.api_sock + "?x=1", a.api_sock):
        r = api(t, "fetch", "x509", env=clean_env(SPIFFE_ENDPOINT_SOCKET=bad))
        fails_clearly(r, 2, "SPIFFE_ENDPOINT_SOCKET '%s'" % re.escape(bad), "env %r" % bad)
    # -socketPath is explicit configuration: the variable is not consulted then.
    for env in ("unix:///nonexistent/api.sock", "not a uri"):
        r = api(t, "fetch", "x509", sock=a.api_sock,
                env=clean_env(SPIFFE_ENDPOINT_SOCKET=env)).ok()
        sigiltest.contains(r.out, sid("/env"), "-socketPath wins over %r" % env)
    r = api(t, "fetch", "x509",
            env=clean_env(SPIFFE_ENDPOINT_SOCKET="unix:///nonexistent/api.sock"))
    fails_clearly(r, 1, "no socket at '/nonexistent/api.sock'", "the variable is used")


def parse_tokens(out):
    """{SPIFFE ID: token} from the text of `api fetch jwt`."""
    return dict(re.findall(r"^token\((spiffe://[^)]+)\):\n\t(\S+)\n", out, re.M))


def jwt_claims(token):
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


def test_fetch_and_validate_jwt(t):
    s, a, _, _ = wt.setup(t, entries=[("/j1", ["unix:uid:0"], []),
                                      ("/j2", ["unix:uid:0", "unix:gid:0"], ["-hint", "j2"]),
                                      ("/theirs", ["unix:uid:%d" % OTHER_UID], [])])
    r = api(t, "fetch", "jwt", "-audience", "a1", "-audience", "a2", sock=a.api_sock).ok()
    toks = parse_tokens(r.out)
    eq(sorted(toks), [sid("/j1"), sid("/j2")], "a token per identity")
    for spiffe_id, tok in toks.items():
        cl = jwt_claims(tok)
        eq(cl["sub"], spiffe_id, "sub")
        eq(sorted(cl["aud"]), ["a1", "a2"], "aud")
    m = re.search(r"^bundle\(spiffe://example.org\):\n\t(.*?)\n(?=bundle\(|\Z)", r.out,
                  re.M | re.S)
    check(m, "the JWT bundle is printed:\n%r" % r)
    check(json.loads(m.group(1))["keys"], "a JWKS with keys")

    one = api(t, "fetch", "jwt", "-audience", "a1", "-spiffeID", sid("/j2"), sock=a.api_sock)
    eq(sorted(parse_tokens(one.ok().out)), [sid("/j2")], "-spiffeID picks one")
    j = api(t, "fetch", "jwt", "-audience", "a1", "-output", "json", sock=a.api_sock).ok().json()
    eq(sorted((x["spiffe_id"], x["hint"]) for x in j["svids"]),
       [(sid("/j1"), ""), (sid("/j2"), "j2")], "JSON svids")
    eq(sorted(j["bundles"]), ["spiffe://example.org"], "JSON bundles")
    check(j["bundles"]["spiffe://example.org"]["keys"], "JSON bundle is a JWKS")

    tok = toks[sid("/j1")]
    r = api(t, "validate", "jwt", "-audience", "a2", "-svid", tok, sock=a.api_sock).ok()
    check(r.out.startswith("SVID is valid.\n"), "validate says so:\n%r" % r)
    sigiltest.contains(r.out, "SPIFFE ID : %s\n" % sid("/j1"), "validated SPIFFE ID")
    claims = json.loads(re.search(r"^Claims    : (.*)$", r.out, re.M).group(1))
    eq((claims["sub"], sorted(claims["aud"])), (sid("/j1"), ["a1", "a2"]), "printed claims")
    j = api(t, "validate", "jwt", "-audience", "a2", "-svid", tok, "-output", "json",
            sock=a.api_sock).ok().json()
    eq(j["spiffe_id"], sid("/j1"), "JSON spiffe_id")
    eq(j["claims"]["sub"], sid("/j1"), "JSON claims")

    fails_clearly(api(t, "validate", "jwt", "-audience", "other", "-svid", tok,
                      sock=a.api_sock), 1, r"SVID is not valid: .*INVALID_ARGUMENT.*audience",
                  "validation for another audience")
    fails_clearly(api(t, "validate", "jwt", "-audience", "a1", "-svid", "garbage",
                      sock=a.api_sock), 1, "SVID is not valid: .*INVALID_ARGUMENT",
                  "validation of garbage")
    fails_clearly(api(t, "fetch", "jwt", "-audience", "a1", "-spiffeID", sid("/theirs"),
                      sock=a.api_sock), 1, "PERMISSION_DENIED.*no identity issued",
                  "-spiffeID of another workload")


def test_watch(t):
    s, a, agent_id, made = wt.setup(t, entries=[("/w", ["unix:uid:0"], [])])
    w = wt.Proc([AGENT_BIN, "api", "watch", "-socketPath", a.api_sock])
    w.next_line(5 * SLOW, lambda line: line.startswith("Received 1 svid "), "the first update")
    w.next_line(5 * SLOW, lambda line: sid("/w") in line, "the SVID")
    added = create_entry(s, sid("/added"), agent_id, ["unix:uid:0"])
    w.next_line(5 * SLOW, lambda line: line.startswith("Received 2 svids "),
                "an update after an entry was created")
    w.next_line(5 * SLOW, lambda line: sid("/added") in line, "the new SVID")
    s.cli("entry", "update", "-entryID", added,
          *entry_args(sid("/added"), agent_id, ["unix:uid:0"], extra=["-hint", "now"])).ok()
    w.next_line(5 * SLOW, lambda line: line == "Hint:\t\t\tnow\n", "the new hint")
    # When the last identity goes, watch says why and exits non-zero.
    for eid in (made["/w"], added):
        s.cli("entry", "delete", "-entryID", eid).ok()
    try:
        rc = w.proc.wait(timeout=5 * SLOW)
    except Exception:
        w.kill()
        raise
    err = w.proc.stderr.read()
    eq(rc, 1, "exit status of watch when the identity is gone")
    check(re.fullmatch(r"Error: watching X.509-SVIDs: rpc error: code = PERMISSION_DENIED "
                       r"desc = no identity issued\n", err), "watch's error:\n%s" % err)


def test_errors(t):
    s, a, _, _ = wt.setup(t, entries=[("/e", ["unix:uid:0"], [])])
    env = clean_env()
    fails_clearly(api(t, "fetch", "x509", sock=t.path("nothing.sock"), env=env), 1,
                  r"cannot reach the Workload API: no socket at '.*nothing.sock'", "no socket")
    fails_clearly(api(t, "fetch", "x509", sock=t.write("plain-file", "x"), env=env), 1,
                  "no socket at", "a file that is no socket")
    dead = t.path("dead.sock")
    with socket.socket(socket.AF_UNIX) as x:
        x.bind(dead)                  # a socket nobody listens on (an agent that died)
    for args in (["fetch", "x509"], ["fetch", "jwt", "-audience", "x"], ["watch"]):
        fails_clearly(api(t, *args, sock=dead, env=env), 1, "UNAVAILABLE",
                      "%s on a dead socket" % " ".join(args))
    sigiltest.require_root()
    fails_clearly(api(t, "fetch", "x509", sock=a.api_sock, uid=OTHER_UID), 1,
                  "fetching X.509-SVIDs: rpc error: code = PERMISSION_DENIED desc = no "
                  "identity issued", "a caller with no identity")
    fails_clearly(api(t, "fetch", "jwt", "-audience", "x", sock=a.api_sock, uid=OTHER_UID), 1,
                  "PERMISSION_DENIED desc = no identity issued", "fetch jwt with no identity")
    usage = [
        (["fetch", "x509", "-bogus"], "unknown or incomplete flag '-bogus'"),
        (["fetch", "x509", "-socketPath"], "unknown or incomplete flag"),
        (["fetch", "x509", "extra"], "unexpected argument 'extra'"),
        (["fetch", "x509", "-output", "yaml"], "-output must be text or json"),
        (["fetch", "x509", "-timeout", "0"], "invalid -timeout '0'"),
        (["fetch", "jwt"], "-audience is required"),
        (["validate", "jwt", "-svid", "x"], "exactly one -audience is required"),
        (["validate", "jwt", "-audience", "a", "-audience", "b", "-svid", "x"],
         "exactly one -audience"),
        (["validate", "jwt", "-audience", "a"], "-svid is required"),
        (["fetch"], r"missing what to fetch \(x509 or jwt\)"),
        (["fetch", "-socketPath", a.api_sock], "missing what to fetch"),
        (["fetch", "pem"], r"cannot fetch 'pem' \(x509 or jwt\)"),
        (["validate", "x509"], r"cannot validate 'x509' \(jwt\)"),
        (["frob"], "unknown api command 'frob'"),
    ]
    for args, pattern in usage:
        fails_clearly(api(t, *args, env=env), 2, pattern, "api %s" % " ".join(args))
    r = api(t, "-h", env=env).ok()
    sigiltest.contains(r.out, "Usage: sigil-agent api fetch x509", "api -h")
    check(a.running(), "the agent still runs")


if __name__ == "__main__":
    sigiltest.main()
