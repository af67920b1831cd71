# SPDX-License-Identifier: Apache-2.0
"""agenttest: what the agent tests add to sigiltest's harness.

Agent(t, server, ...) runs the real sigil-agent on its own data dir and
sockets against a sigil-server started with t.server(); agent.debug() reads
`sigil-agent debug -output json` (the agent's admin API). Agents are stopped
with SIGTERM at the end of a passing test and must exit 0 promptly; after a
failure they are killed and their logs are printed with the server's.

Also here: join tokens, entries, and an x509pop PKI made with openssl.

Environment: SIGIL_AGENT (default: $SIGIL_BUILD_DIR/agent/sigil-agent),
plus everything sigiltest reads.
"""

import json
import os
import re
import signal
import subprocess
import time

import sigiltest
from sigiltest import check, eq, fail, openssl

TD = sigiltest.TRUST_DOMAIN
AGENT_BIN = os.environ.get("SIGIL_AGENT") or os.path.join(sigiltest.BUILD_DIR, "agent",
                                                          "sigil-agent")
SLOW = sigiltest.SLOW
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def agent_id_of_token(token):
    return "spiffe://%s/sigil/agent/join_token/%s" % (TD, token)


class Agent:
    """One sigil-agent process on its own data dir and sockets."""

    def __init__(self, t, server, name="agent", join_token=None, trust_bundle=True,
                 config=None, data_dir=None, extra_args=()):
        self.t, self.server, self.name = t, server, name
        self.dir = t.path(name)
        os.makedirs(self.dir, exist_ok=True)
        self.data_dir = data_dir or os.path.join(self.dir, "data")
        self.admin_sock = os.path.join(self.dir, "private", "admin.sock")
        self.api_sock = os.path.join(self.dir, "public", "api.sock")
        self.log_path = os.path.join(self.dir, "agent.log")
        self.join_token = join_token
        self.trust_bundle = trust_bundle
        self.config_path = None
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_offset = 0
        if config is not None:
            self.config_path = os.path.join(self.dir, "agent.json")
            with open(self.config_path, "w") as f:
                json.dump(config, f, indent=2)
        t.agents = getattr(t, "agents", []) + [self]

    def argv(self):
        a = [AGENT_BIN, "run", "-trustDomain", TD, "-serverAddress", "127.0.0.1",
             "-serverPort", str(self.server.port), "-dataDir", self.data_dir,
             "-socketPath", self.api_sock, "-adminSocketPath", self.admin_sock,
             "-logLevel", "debug"]
        if self.join_token:
            a += ["-joinToken", self.join_token]
        if self.trust_bundle is True:
            a += ["-trustBundle", self.write_bootstrap_bundle()]
        elif self.trust_bundle == "insecure":
            a += ["-insecureBootstrap"]
        if self.config_path:
            a += ["-config", self.config_path]
        return a + self.extra_args

    def write_bootstrap_bundle(self):
        """The server's bundle as the -trustBundle file (fetched once, so that the agent
        can later start while the server is down)."""
        path = os.path.join(self.dir, "bootstrap.pem")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write(self.server.bundle_pem())
        return path

    def spawn(self):
        check(not self.running(), "agent %s is already running" % self.name)
        argv = self.argv()
        log = open(self.log_path, "ab")
        self.log_offset = log.tell()
        log.write(("==== %s\n" % " ".join(argv)).encode())
        log.flush()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     preexec_fn=sigiltest._child_setup)
        log.close()
        sigiltest._live.add(self.proc)
        return self

    def start(self, timeout=20):
        """Start and wait until the agent has an identity and a complete snapshot."""
        self.spawn()
        self.wait_debug(lambda d: d["agent_id"] and d["connected"] and
                        d["snapshot_done_at_usec"] > 0, timeout, "agent %s to attest and sync"
                        % self.name)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=20):
        """Wait for the agent to exit by itself; returns its exit status."""
        try:
            rc = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            fail("agent %s still running after %d s; log:\n%s"
                 % (self.name, timeout * SLOW, self.log_since_start()))
        sigiltest._live.discard(self.proc)
        self.check_log_clean()
        return rc

    def stop(self, timeout=15, expect_rc=0):
        """SIGTERM; the agent must exit with expect_rc within timeout seconds."""
        check(self.running(), "agent %s is not running; log:\n%s"
              % (self.name, self.log_since_start()))
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("agent %s did not exit within %d s of SIGTERM" % (self.name, timeout * SLOW))
        finally:
            sigiltest._live.discard(self.proc)
        self.last_stop_seconds = time.monotonic() - start
        self.check_log_clean()
        if expect_rc is not None and rc != expect_rc:
            fail("agent %s exited with status %d after SIGTERM (expected %d); log:\n%s"
                 % (self.name, rc, expect_rc, self.log_since_start()))
        return rc

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            sigiltest._live.discard(self.proc)

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_since_start(self):
        with open(self.log_path, "rb") as f:
            f.seek(self.log_offset)
            return f.read().decode("utf-8", "replace")

    def check_log_clean(self):
        text = self.log_since_start()
        for m in sigiltest.SANITIZER_MARKERS:
            if m in text:
                fail("sanitizer report in the log of agent %s:\n%s" % (self.name, text))

    def cli(self, *args, timeout=30):
        return self.t.run([AGENT_BIN] + [str(a) for a in args], timeout=timeout)

    def debug(self):
        """`sigil-agent debug -output json` parsed, or None when the agent does not answer."""
        r = sigiltest.run([AGENT_BIN, "debug", "-adminSocketPath", self.admin_sock,
                           "-output", "json"], timeout=30 * SLOW)
        if r.rc != 0:
            return None
        return json.loads(r.out)

    def wait_debug(self, pred, timeout, what, interval=0.05):
        """Poll debug() until pred(info) is true (returns info); fail after timeout s."""
        deadline = time.monotonic() + timeout * SLOW
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                fail("agent %s exited with status %s while waiting for %s; log:\n%s"
                     % (self.name, self.proc.returncode, what, self.log_since_start()))
            d = self.debug()
            if d is not None and pred(d):
                return d
            if time.monotonic() >= deadline:
                fail("timed out after %.1f s waiting for %s; last debug view:\n%s"
                     % (timeout * SLOW, what, json.dumps(d, indent=1)[:6000]))
            time.sleep(interval)

    def entries(self, d=None):
        """SPIFFE ID -> cached entry, from debug() (or d)."""
        d = d or self.debug()
        return {e["spiffe_id"]: e for e in d["entries"]}

    def wait_svids(self, spiffe_ids, timeout=10):
        """Wait until every one of spiffe_ids has an SVID; returns the debug view."""
        want = set(spiffe_ids)
        return self.wait_debug(
            lambda d: want <= {e["spiffe_id"] for e in d["entries"] if e["svid_serial"]},
            timeout, "SVIDs for %s" % sorted(want)[:5])


# ---- the harness: agents are stopped, and their logs dumped, with the servers ----

_cleanup = sigiltest.TestContext.cleanup
_dump = sigiltest.TestContext.dump


def _cleanup_with_agents(self, failed):
    errors = []
    for a in getattr(self, "agents", []):
        if not a.running():
            continue
        if failed:
            a.kill()
            continue
        try:
            a.stop()
        except sigiltest.TestFailure as e:
            errors.append(str(e))
            a.kill()
    return errors + _cleanup(self, failed)


def _dump_with_agents(self):
    _dump(self)
    for a in getattr(self, "agents", []):
        print("# ---- log of agent %s (%s) ----" % (a.name, a.log_path))
        print(re.sub("^", "# ", sigiltest._clip(a.log(), 20000), flags=re.M))


sigiltest.TestContext.cleanup = _cleanup_with_agents
sigiltest.TestContext.dump = _dump_with_agents


# ---- the server side ----

def join_token(server):
    r = server.cli("token", "generate").ok()
    m = re.fullmatch(r"Token: (%s)\n" % UUID, r.out)
    check(m, "token generate prints 'Token: <uuid>':\n%r" % r)
    return m.group(1)


def entry_args(spiffe_id, parent_id, selectors, ttl=None, extra=()):
    a = ["-spiffeID", spiffe_id, "-parentID", parent_id]
    for s in selectors:
        a += ["-selector", s]
    if ttl is not None:
        a += ["-x509SVIDTTL", str(ttl)]
    return a + list(extra)


def create_entry(server, spiffe_id, parent_id, selectors=("unix:uid:1000",), ttl=None,
                 extra=()):
    """Create one entry; returns its ID."""
    r = server.cli("entry", "create", *entry_args(spiffe_id, parent_id, selectors, ttl,
                                                  extra)).ok()
    m = re.search(r"^Entry ID\s*: (\S+)$", r.out, re.M)
    check(m, "entry create prints the entry ID:\n%r" % r)
    return m.group(1)


def create_entries(server, entries):
    """Create many entries from dicts (spire's -data format) in one command."""
    path = server.t.write("entries-%d.json" % time.monotonic_ns(),
                          json.dumps({"entries": entries}))
    server.cli("entry", "create", "-data", path, timeout=600).ok()


def agent_list_ids(server):
    r = server.cli("agent", "list", output="json").ok().json()
    return sorted("spiffe://%s%s" % (a["id"]["trust_domain"], a["id"]["path"])
                  for a in r["agents"])


# ---- an x509pop PKI ----

X509POP_CA_EXT = ["-addext", "basicConstraints=critical,CA:TRUE",
                  "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                  "-addext", "subjectKeyIdentifier=hash"]


def make_ca(t, name):
    """A self-signed node CA: returns (cert path, key path)."""
    cert, key = t.path(name + ".pem"), t.path(name + ".key")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=%s" % name,
            *X509POP_CA_EXT, t=t).ok()
    return cert, key


def _sign_cert(t, ca, cn, extensions):
    """A new P-256 key and a certificate for cn with extensions, signed by ca:
    returns (cert path, key path)."""
    cert, key, csr = t.path(cn + ".pem"), t.path(cn + ".key"), t.path(cn + ".csr")
    ext = t.write(cn + ".ext", extensions +
                  "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=%s" % cn, t=t).ok()
    openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", ext, t=t).ok()
    return cert, key


def make_node_cert(t, ca, cn):
    """A node certificate for cn signed by ca: returns (cert path, key path)."""
    return _sign_cert(t, ca, cn, "basicConstraints=critical,CA:FALSE\n"
                      "keyUsage=critical,digitalSignature\n")


def make_intermediate(t, root, name):
    """An intermediate CA signed by root: returns (cert path, key path)."""
    return _sign_cert(t, root, name, "basicConstraints=critical,CA:TRUE,pathlen:0\n"
                      "keyUsage=critical,keyCertSign,cRLSign\n")


def sha1_fingerprint(t, cert):
    out = openssl("x509", "-in", cert, "-noout", "-fingerprint", "-sha1", t=t).ok().out
    return out.strip().split("=", 1)[1].replace(":", "").lower()


def x509pop_server_config(ca_cert, extra=None):
    cfg = {"node_attestors": {"join_token": {}, "x509pop": {"ca_bundle_path": ca_cert}}}
    if extra:
        cfg["server"] = extra
    return cfg


def x509pop_agent_config(node):
    return {"node_attestor": {"x509pop": {"certificate_path": node[0],
                                          "private_key_path": node[1]}}}


def now_usec():
    return int(time.time() * 1e6)


__all__ = ["Agent", "TD", "SLOW", "agent_id_of_token", "join_token", "create_entry",
           "create_entries", "entry_args", "agent_list_ids", "make_ca", "make_node_cert",
           "sha1_fingerprint", "x509pop_server_config", "x509pop_agent_config", "now_usec",
           "check", "eq", "fail"]
