#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Start, stop and configuration: SIGTERM/SIGINT under load, one server per data dir and
per socket, `sigil-server validate` and `run` with good and broken configuration files."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from agenttest import AGENT_BIN  # noqa: E402
from sigiltest import SERVER_BIN, check, contains, eq, not_contains, openssl  # noqa: E402

TD = sigiltest.TRUST_DOMAIN


def test_sigterm_under_load(t):
    s = t.server(config={"server": {"shutdown_grace": "3s"}})
    s.cli("entry", "create", "-spiffeID", "spiffe://%s/first" % TD, "-parentID",
          "spiffe://%s/n" % TD, "-selector", "unix:uid:1").ok()
    # Clients busy creating entries while SIGTERM arrives.
    procs = []
    for i in range(12):
        data = {"entries": [{"spiffe_id": "spiffe://%s/load/%d/%d" % (TD, i, k),
                             "parent_id": "spiffe://%s/n" % TD,
                             "selectors": [{"type": "unix", "value": "uid:%d" % k}]}
                            for k in range(200)]}
        path = t.write("load-%d.json" % i, json.dumps(data))
        procs.append(subprocess.Popen([SERVER_BIN, "entry", "create", "-data", path,
                                       "-socketPath", s.sock, "-output", "json"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, preexec_fn=sigiltest._child_setup))
        sigiltest._live.add(procs[-1])
    time.sleep(0.05)
    s.stop(timeout=3 + 5)
    check(s.last_stop_seconds < (3 + 2) * sigiltest.SLOW,
          "exit within the 3 s grace period (took %.1f s)" % s.last_stop_seconds)
    told = {}           # client -> entries it reported as created
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=60)
        sigiltest._live.discard(p)
        try:
            res = json.loads(out)["results"] if out.strip() else []
        except ValueError:
            sigiltest.fail("garbled output of a client cut off by shutdown: %r / %r"
                           % (out, err))
        told[i] = sum(1 for r in res if r["status"]["code"] == 0)
        if p.returncode != 0:
            check(err.startswith("Error: "), "a client cut off says why: %r" % err)
    log = s.log_since_start()
    contains(log, "sigil-server stopped", "orderly stop logged")
    not_contains(log, "database is locked", "server log")

    s.start()
    stored = {i: 0 for i in range(len(procs))}
    for e in s.cli("entry", "show", output="json").ok().json()["entries"]:
        parts = e["spiffe_id"]["path"].split("/")
        if parts[1] == "load":
            stored[int(parts[2])] += 1
    print("# %d of %d clients were cut off by the shutdown; %d entries went in"
          % (sum(1 for p in procs if p.returncode != 0), len(procs), sum(stored.values())))
    # A client whose later batch was cut off still reports the batches that went in
    # (docs/cli.md: "the entries that were created are still printed").
    eq(told, stored, "entries each client reported created vs. entries stored")
    eq(s.cli("entry", "count").ok().out, "%d registration entries\n"
       % (1 + sum(stored.values())), "entry count after the restart")
    s.stop()
    not_contains(s.log(), "database is locked", "server log")
    s.start()
    check(s.healthy(), "a second restart works")


def test_sigint_and_quick_stop(t):
    s = t.server()
    s.proc.send_signal(signal.SIGINT)
    rc, log = s.wait_exit()
    eq(rc, 0, "exit status after SIGINT")
    contains(log, "sigil-server stopped", "orderly stop logged")
    s.start()
    s.stop()
    check(s.last_stop_seconds < 3 * sigiltest.SLOW,
          "an idle server stops promptly (took %.1f s)" % s.last_stop_seconds)


def test_one_server_per_data_dir(t):
    s = t.server()
    twin = t.server(start=False, name="twin", data_dir=s.data_dir)
    twin.spawn()
    rc, log = twin.wait_exit()
    eq(rc, 1, "exit status of a second server on the same data dir")
    contains(log, "Data directory '%s' is in use by another sigil-server" % s.data_dir,
             "the refusal says why")
    check(s.healthy(), "the first server keeps serving")
    check(os.path.exists(s.sock), "the first server's socket is untouched")


def test_one_server_per_socket(t):
    s = t.server()
    twin = t.server(start=False, name="twin", socket_path=s.sock)
    twin.spawn()
    rc, log = twin.wait_exit()
    eq(rc, 1, "exit status of a second server on the same admin socket")
    contains(log, s.sock, "the refusal names the socket")
    h = s.cli("healthcheck", "-verbose", output="json").ok().json()
    eq(h["serving"], True, "the first server still answers on its socket")
    s.stop()
    check(not os.path.exists(s.sock), "socket removed at stop")


GOOD = {
    "server": {"trust_domain": TD, "data_dir": "/nonexistent/sigil-validate",
               "socket_path": "/nonexistent/sigil-validate/api.sock", "bind_port": 8081,
               "log_level": "debug", "ca_ttl": "1h", "default_x509_svid_ttl": "10m",
               "default_jwt_svid_ttl": 300, "admin_uids": [1001], "shutdown_grace": "2s"},
    "datastore": {"type": "sqlite"},
    "key_manager": "disk",
    "node_attestors": {"join_token": {}},
}


def with_(path, value):
    c = json.loads(json.dumps(GOOD))
    d = c
    keys = path.split(".")
    for k in keys[:-1]:
        d = d.setdefault(k, {})
    d[keys[-1]] = value
    return json.dumps(c)


def make_ca(t, name, ca=True):
    """A self-signed certificate and its key made by openssl: a CA unless ca=False."""
    key, crt = t.path(name + ".key"), t.path(name + ".pem")
    ext = ("basicConstraints=critical,CA:TRUE" if ca else "basicConstraints=critical,CA:FALSE")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", crt, "-subj", "/O=test/CN=" + name, "-days", "30",
            "-addext", ext, t=t).ok()
    return crt, key


def file_cases(t):
    """Configurations whose files run would refuse, and the key path each error names."""
    root, key = make_ca(t, "root")
    other, other_key = make_ca(t, "other")
    leaf, leaf_key = make_ca(t, "leaf", ca=False)
    garbage = t.write("garbage.pem", "not PEM\n")
    missing = t.path("missing.pem")
    up = "upstream_authority.disk"

    def disk(cert, k, bundle=None):
        d = {"cert_file_path": cert, "key_file_path": k}
        if bundle:
            d["bundle_file_path"] = bundle
        return with_(up, d)

    return [
        (disk(missing, key), r"upstream_authority\.disk\.cert_file_path: .*missing\.pem"),
        (disk(garbage, key), r"upstream_authority\.disk\.cert_file_path: .*garbage\.pem"),
        (disk(leaf, leaf_key), r"upstream_authority\.disk\.cert_file_path: .*not a CA"),
        (disk(root, missing), r"upstream_authority\.disk\.key_file_path: .*missing\.pem"),
        (disk(root, garbage), r"upstream_authority\.disk\.key_file_path: .*garbage\.pem"),
        (disk(root, other_key), r"upstream_authority\.disk\.key_file_path: .*does not match"),
        (disk(root, key, missing), r"upstream_authority\.disk\.bundle_file_path: .*missing"),
        (disk(root, key, garbage), r"upstream_authority\.disk\.bundle_file_path: .*garbage"),
        (disk(root, key, other), r"upstream_authority\.disk\.bundle_file_path: .*chain"),
        (with_(up, {"bundle_file_path": root}), r"upstream_authority\.disk\.bundle_file_path"),
        (with_("node_attestors.x509pop", {"ca_bundle_path": missing}),
         r"node_attestors\.x509pop\.ca_bundle_path: .*missing\.pem"),
        (with_("node_attestors.x509pop", {"ca_bundle_path": garbage}),
         r"node_attestors\.x509pop\.ca_bundle_path: .*garbage\.pem"),
    ], (disk(root, key, root), with_("node_attestors.x509pop", {"ca_bundle_path": root}))


def test_validate(t):
    good = t.write("good.json", json.dumps(GOOD))
    r = t.run([SERVER_BIN, "validate", "-config", good]).ok()
    eq(r.out, "Configuration is valid.\n", "validate of a good file")
    check(not os.path.exists("/nonexistent/sigil-validate"), "validate creates nothing")
    cases = [
        (with_("server.colour", "red"), r"server\.colour"),
        (with_("colour", 1), r"colour"),
        (with_("datastore.colour", 1), r"datastore\.colour"),
        (with_("server.bind_port", 70000), r"server\.bind_port"),
        (with_("server.bind_port", "8081"), r"server\.bind_port"),
        (with_("server.ca_ttl", "5s"), r"ca_ttl"),
        (with_("server.ca_ttl", "soon"), r"server\.ca_ttl"),
        (with_("server.ca_ttl", "100000000d"), r"server\.ca_ttl: too long"),
        (with_("server.ca_subject", "garbage"), r"server\.ca_subject: .*'garbage' has no '='"),
        (with_("server.ca_subject", ""), r"server\.ca_subject: .*empty"),
        (with_("server.ca_subject", "/C=US/O=Acme/CN=root"), r"server\.ca_subject: .*'/C'"),
        (with_("server.ca_subject", "/X=foo"), r"server\.ca_subject: "),
        (with_("server.ca_subject", "O=Acme,X=foo"), r"server\.ca_subject: .*'X'"),
        (with_("server.log_level", "loud"), r"server\.log_level"),
        (with_("server.trust_domain", "Bad TD"), r"trust.domain"),
        (with_("server.admin_uids", ["root"]), r"server\.admin_uids"),
        (with_("server.ca_key_type", "dsa"), r"server\.ca_key_type"),
        (with_("key_manager", "tpm"), r"key_manager"),
        (with_("datastore.type", "postgres-ish"), r"datastore\.type"),
        (with_("node_attestors.join_token", {"x": 1}), r"node_attestors\.join_token"),
        (with_("upstream_authority.disk", {"cert_file_path": "/x.pem"}), r"upstream"),
        ('{"server": {"trust_domain": "%s", "trust_domain": "%s"}}' % (TD, TD),
         r"duplicate"),
        ('{"server": {"trust_domain": ', r"bad\.json:1:\d+: "),
        ('{"server": {}}', r"trust domain is required"),
    ]
    bad_files, good_files = file_cases(t)
    for text, match in cases + bad_files:
        path = t.write("bad.json", text)
        r = t.run([SERVER_BIN, "validate", "-config", path])
        r.fails(1, r"^sigil-server: .*" + match, admin=False)
        eq(len(r.err.splitlines()), 1, "one line for a bad config: %r" % r)
        eq(r.out, "", "nothing on stdout for a bad config")
    for text in good_files + (with_("server.ca_subject", "C=US, O=Acme,CN=root"),
                              with_("server.ca_ttl", "36500d")):
        r = t.run([SERVER_BIN, "validate", "-config", t.write("fine.json", text)]).ok()
        eq(r.out, "Configuration is valid.\n", "validate of %s" % text)
    t.run([SERVER_BIN, "validate", "-config", t.path("missing.json")]).fails(
        1, "missing", admin=False)
    # Flags override the file (the harness passes -trustDomain, -socketPath, ...).
    s = t.server(config={"server": {"trust_domain": "file.test", "ca_ttl": "2h",
                                    "socket_path": t.path("file.sock")}})
    eq(s.cli("healthcheck", output="json").ok().json()["trust_domain"], TD,
       "-trustDomain overrides server.trust_domain")
    check(not os.path.exists(t.path("file.sock")), "-socketPath overrides server.socket_path")


def test_run_refuses_bad_config(t):
    bad_files, _ = file_cases(t)
    cases = [(with_("server.ca_ttl", "5s"), r"server\.ca_ttl"),
             (with_("server.ca_ttl", "100000000d"), r"server\.ca_ttl"),
             (with_("server.ca_subject", "garbage"), r"server\.ca_subject")] + bad_files[:7:3]
    for i, (text, match) in enumerate(cases):
        s = t.server(start=False, name="bad%d" % i, config=text)
        s.spawn()
        rc, log = s.wait_exit()
        eq(rc, 1, "exit status of run with a bad config (%s)" % match)
        check(re.search(match, log), "run names the bad key %r:\n%s" % (match, log))
        check(not os.path.exists(s.sock), "no socket")
        check(not os.path.exists(s.data_dir), "no data dir created for a bad config")


def usage_error(t, argv, match):
    """argv is a usage error: the reason, a blank line and the usage on stderr, exit 2."""
    name = os.path.basename(argv[0])
    r = t.run(argv)
    r.fails(2, r"^%s: .*%s.*\n\nUsage: %s run" % (name, match, name), admin=False)
    eq(r.out, "", "nothing on stdout for a usage error")


def test_usage_errors(t):
    good = t.write("good.json", json.dumps(GOOD))
    agent = t.write("agent.json", json.dumps({"agent": {
        "trust_domain": TD, "server_address": "127.0.0.1", "insecure_bootstrap": True}}))
    for binary, config in ((SERVER_BIN, good), (AGENT_BIN, agent)):
        usage_error(t, [binary, "validate", "-config", config, "-frob"], r"'-frob'")
        usage_error(t, [binary, "validate", "-config", config, "extra"], r"'extra'")
        usage_error(t, [binary, "validate", "-config"], r"'-config'")
        usage_error(t, [binary, "validate"], r"-config FILE is required")
        usage_error(t, [binary, "run", "-frob"], r"'-frob'")
        usage_error(t, [binary, "run", "-config", config, "extra"], r"'extra'")
        for sub in ("run", "validate"):
            r = t.run([binary, sub, "-h"]).ok()
            contains(r.out, "Usage: %s run" % os.path.basename(binary), "%s -h usage" % sub)
            eq(r.err, "", "nothing on stderr for %s -h" % sub)
        # A bad value is a configuration error (exit 1, one line), not a usage error.
        r = t.run([binary, "validate", "-config", config, "-logLevel", "loud"])
        r.fails(1, r"-logLevel", admin=False)
        eq(len(r.err.splitlines()), 1, "one line for a bad flag value: %r" % r)


if __name__ == "__main__":
    sigiltest.main()
