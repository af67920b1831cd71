# SPDX-License-Identifier: Apache-2.0
"""sigiltest: the harness of the integration suite.

Each test-*.py file defines test_*(t) functions and ends with
sigiltest.main(). Every test gets a TestContext `t` with a fresh temp dir;
t.server() starts the real sigil-server on its own data dir, admin socket and
free port, and waits until `sigil-server healthcheck` succeeds. Servers are
stopped with SIGTERM at the end of the test and must exit 0 promptly; on any
exception (or SIGTERM from meson's timeout) every process the test started is
killed, and on failure the transcript of CLI calls and the server logs are
printed. Children also get PR_SET_PDEATHSIG, so even a SIGKILLed test leaves
no server behind.

Environment (set by tests/meson.build; defaults for a manual run):
  SIGIL_SOURCE_DIR  the source tree (default: two levels above this file)
  SIGIL_BUILD_DIR   the build dir (default: $SIGIL_SOURCE_DIR/build)
  SIGIL_SERVER      sigil-server (default: $SIGIL_BUILD_DIR/daemon/sigil-server)
  SIGIL_TEST_KEEP   if set, temp dirs are kept
Exit status: 0 all passed, 1 a test failed, 77 every test skipped.

Only the standard library is used here; tests needing more (jwcrypto) import
it themselves and must be run with Debian's /usr/bin/python3.
"""

import base64
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

SKIP_EXIT = 77
TRUST_DOMAIN = "example.org"

SOURCE_DIR = os.environ.get("SIGIL_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_DIR = os.environ.get("SIGIL_BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
SERVER_BIN = os.environ.get("SIGIL_SERVER") or os.path.join(BUILD_DIR, "daemon", "sigil-server")


def _sanitized_build():
    """Whether the build dir is a sanitizer build (from meson's introspection data)."""
    try:
        with open(os.path.join(BUILD_DIR, "meson-info", "intro-buildoptions.json")) as f:
            opts = {o["name"]: o["value"] for o in json.load(f)}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return opts.get("b_sanitize", "none") not in ("none", "", [])


# Sanitizer builds are slower to start and to answer: timeouts scale by SLOW.
SLOW = 3 if _sanitized_build() or os.environ.get("SIGIL_TEST_SLOW") else 1

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "AddressSanitizer:DEADLYSIGNAL")


class TestFailure(AssertionError):
    """An assertion of a test failed."""


class TestSkip(Exception):
    """The test cannot run here (exit 77 when every test skips)."""


class Terminated(BaseException):
    """The test runner got SIGTERM (meson timeout): clean up and leave."""


def fail(msg):
    raise TestFailure(msg)


def skip(msg):
    raise TestSkip(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def eq(actual, expected, what):
    if actual != expected:
        fail("%s: expected %r, got %r" % (what, expected, actual))


def contains(haystack, needle, what):
    if needle not in haystack:
        fail("%s: %r not found in %r" % (what, needle, _clip(haystack)))


def not_contains(haystack, needle, what):
    if needle in haystack:
        fail("%s: %r unexpectedly found" % (what, needle))


def free_port():
    """A TCP port nobody listens on right now (bind port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _child_setup():
    """preexec_fn: die with the test process, whatever kills it."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# Every process started through this module, so that none survives the test.
_live = set()


def _kill_all():
    for p in list(_live):
        if p.poll() is None:
            try:
                p.kill()
                p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        _live.discard(p)


class Result:
    """What a command did: argv, rc, out, err, elapsed seconds."""

    def __init__(self, argv, rc, out, err, elapsed):
        self.argv, self.rc, self.out, self.err, self.elapsed = argv, rc, out, err, elapsed

    def __repr__(self):
        return "$ %s\n  -> rc=%s in %.2fs\n  stdout: %s\n  stderr: %s" % (
            " ".join(self.argv), self.rc, self.elapsed, _clip(self.out), _clip(self.err))

    def ok(self):
        """Assert success (rc 0, nothing on stderr unless told) and return self."""
        if self.rc != 0:
            fail("command failed:\n%r" % self)
        return self

    def fails(self, rc=1, match=None, admin=True):
        """Assert a failure with exit status rc and a stderr matching the regex match; for
        the admin commands (admin=True) also the shape of stderr that docs/cli.md gives."""
        if self.rc != rc:
            fail("expected exit status %d:\n%r" % (rc, self))
        if match is not None and not re.search(match, self.err):
            fail("stderr does not match %r:\n%r" % (match, self))
        if not admin:
            return self
        if rc == 1:
            lines = self.err.splitlines()
            check(len(lines) >= 1 and lines[0].startswith(("Error: ", "Server is unhealthy: ")),
                  "a failure must say 'Error: ...' on stderr:\n%r" % self)
        if rc == 2:
            check(self.err.startswith("Error: ") and "\nUsage: " in self.err,
                  "a usage error must print 'Error: ...', then the usage:\n%r" % self)
        return self

    def one_error_line(self):
        """Assert exactly one line on stderr (what spire-style failures print)."""
        eq(len(self.err.splitlines()), 1, "number of stderr lines of %s" % " ".join(self.argv))
        return self

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            fail("output is not JSON (%s):\n%r" % (e, self))


def _clip(s, n=3000):
    s = s if isinstance(s, str) else s.decode("utf-8", "replace")
    return s if len(s) <= n else s[:n] + "... [%d more bytes]" % (len(s) - n)


def run(argv, input=None, timeout=60, env=None, transcript=None):
    """Run argv, capture stdout and stderr as text; never raise on a non-zero exit."""
    start = time.monotonic()
    try:
        stdin = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                           preexec_fn=_child_setup, **stdin)
        res = Result([str(a) for a in argv], p.returncode, p.stdout, p.stderr,
                     time.monotonic() - start)
    except subprocess.TimeoutExpired as e:
        res = Result([str(a) for a in argv], None, _clip(e.stdout or ""), _clip(e.stderr or ""),
                     time.monotonic() - start)
        if transcript is not None:
            transcript.append(res)
        fail("command did not finish within %d s:\n%r" % (timeout, res))
    if transcript is not None:
        transcript.append(res)
    return res


def openssl(*args, input=None, t=None):
    return run(["openssl"] + [str(a) for a in args], input=input,
               transcript=t.transcript if t else None)


def pem_blocks(text, kind="CERTIFICATE"):
    """The PEM blocks of one kind in text, each as a string ending in a newline."""
    pat = r"-----BEGIN %s-----\n.*?\n-----END %s-----\n?" % (kind, kind)
    return [b if b.endswith("\n") else b + "\n" for b in re.findall(pat, text, re.S)]


def der_to_pem(der):
    b64 = base64.b64encode(der).decode()
    return "-----BEGIN CERTIFICATE-----\n%s\n-----END CERTIFICATE-----\n" % "\n".join(
        b64[i:i + 64] for i in range(0, len(b64), 64))


def parse_blocks(text, head=None):
    """Parse 'Key : value' blocks separated by blank lines into dicts.

    Keys that repeat (Selector, DNS name, FederatesWith) become lists. A first
    line that is not 'Key : value' (e.g. 'Found 2 entries') is returned as head
    when head is a list.
    """
    blocks, cur = [], {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        m = re.match(r"^([A-Za-z0-9 .-]+?)\s*: (.*)$", line)
        if not m:
            if head is not None:
                head.append(line)
            continue
        k, v = m.group(1), m.group(2)
        if k in ("Selector", "DNS name", "FederatesWith", "Selectors"):
            cur.setdefault(k, []).append(v)
        else:
            cur[k] = v
    if cur:
        blocks.append(cur)
    return blocks


class Server:
    """One sigil-server process on its own data dir, socket and port."""

    def __init__(self, t, name="server", trust_domain=TRUST_DOMAIN, config=None,
                 data_dir=None, socket_path=None, extra_args=(), uid=None):
        self.t = t
        self.name = name
        self.trust_domain = trust_domain
        self.uid = uid
        self.dir = os.path.join(t.dir, name)
        os.makedirs(self.dir, exist_ok=True)
        if uid is not None:     # the server runs as uid: let it reach and own its dir
            os.chmod(t.dir, 0o711)
            os.chown(self.dir, uid, uid)
        self.data_dir = data_dir or os.path.join(self.dir, "data")
        self.sock = socket_path or os.path.join(self.dir, "admin", "api.sock")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "server.log")
        self.config_path = None
        self.extra_args = list(extra_args)
        self.proc = None
        self.log_offset = 0
        self.last_exit = None
        self.last_stop_seconds = None
        if config is not None:
            self.set_config(config)

    def set_config(self, config):
        """Write config (a dict, or a string written as is) and pass it with -config."""
        self.config_path = os.path.join(self.dir, "server.json")
        with open(self.config_path, "w") as f:
            f.write(config if isinstance(config, str) else json.dumps(config, indent=2))

    def argv(self):
        a = [SERVER_BIN, "run", "-trustDomain", self.trust_domain, "-dataDir", self.data_dir,
             "-socketPath", self.sock, "-bindAddress", "127.0.0.1", "-bindPort", str(self.port)]
        if self.config_path:
            a += ["-config", self.config_path]
        return (as_uid(self.uid) if self.uid is not None else []) + a + self.extra_args

    def spawn(self):
        """Start the process without waiting for it to serve."""
        check(self.proc is None or self.proc.poll() is not None,
              "server %s is already running" % self.name)
        log = open(self.log_path, "ab")
        self.log_offset = log.tell()
        log.write(("==== %s\n" % " ".join(self.argv())).encode())
        log.flush()
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                     stderr=log, preexec_fn=_child_setup)
        log.close()
        _live.add(self.proc)
        return self.proc

    def start(self, timeout=20):
        """Start and wait until `healthcheck` says the server is healthy."""
        self.spawn()
        self.wait_healthy(timeout * SLOW)
        return self

    def wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                fail("server %s exited with status %s while starting; log:\n%s"
                     % (self.name, self.proc.returncode, self.log_since_start()))
            r = run([SERVER_BIN, "healthcheck", "-socketPath", self.sock], timeout=30)
            if r.rc == 0:
                return
            if time.monotonic() >= deadline:
                fail("server %s not healthy after %d s: %r" % (self.name, timeout, r))
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15, expect_rc=0):
        """SIGTERM; the server must exit with expect_rc within timeout seconds."""
        check(self.running(), "server %s is not running" % self.name)
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("server %s did not exit within %d s of SIGTERM" % (self.name, timeout * SLOW))
        finally:
            _live.discard(self.proc)
        self.last_stop_seconds = time.monotonic() - start
        self.last_exit = rc
        self.check_log_clean()
        if expect_rc is not None and rc != expect_rc:
            fail("server %s exited with status %d after SIGTERM (expected %d); log:\n%s"
                 % (self.name, rc, expect_rc, self.log_since_start()))
        return rc

    def wait_exit(self, timeout=20):
        """Wait for a server that must exit by itself (refused to start); (rc, its log)."""
        try:
            rc = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            fail("server %s kept running" % self.name)
        finally:
            if self.proc.poll() is not None:
                _live.discard(self.proc)
        return rc, self.log_since_start()

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            _live.discard(self.proc)

    def restart(self):
        self.stop()
        return self.start()

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
        for m in SANITIZER_MARKERS:
            if m in text:
                fail("sanitizer report in the log of server %s:\n%s" % (self.name, text))

    def cli(self, *args, input=None, uid=None, timeout=60, socket=True, output=None):
        """Run `sigil-server ARGS -socketPath SOCK` (as uid when given)."""
        argv = [SERVER_BIN] + [str(a) for a in args]
        if socket:
            argv += ["-socketPath", self.sock]
        if output:
            argv += ["-output", output]
        return self.t.run(argv, input=input, uid=uid, timeout=timeout)

    def refuses(self, *args, rc=1, match=None, input=None, one_line=None):
        """Run a command that must fail with rc (stderr matching match); the server must
        still be running and healthy afterwards. Returns the Result."""
        r = self.cli(*args, input=input).fails(rc, match)
        if one_line or (one_line is None and rc == 1):
            r.one_error_line()
        check(self.running(), "server %s died after %r" % (self.name, r))
        h = self.cli("healthcheck")
        check(h.rc == 0, "server %s unhealthy after %r:\n%r" % (self.name, r, h))
        return r

    def healthy(self):
        return self.cli("healthcheck").rc == 0

    def bundle_spiffe(self):
        """`bundle show -format spiffe` parsed."""
        return self.cli("bundle", "show", "-format", "spiffe").ok().json()

    def bundle_pem(self):
        return self.cli("bundle", "show").ok().out


class TestContext:
    """What a test gets: a temp dir, servers, a transcript of the commands run."""

    def __init__(self, name):
        self.name = name
        base = tempfile.gettempdir()
        if len(base) > 40:      # Unix socket paths are limited to 107 bytes
            base = "/tmp"
        self.dir = tempfile.mkdtemp(prefix="sigil-it-", dir=base)
        self.servers = []
        self.transcript = []

    def server(self, start=True, **kw):
        """A new Server (started unless start=False); see Server.__init__."""
        kw.setdefault("name", "server" if not self.servers else "server%d" % len(self.servers))
        s = Server(self, **kw)
        self.servers.append(s)
        if start:
            s.start()
        return s

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def write(self, name, content, mode=None):
        """Write str as text, bytes as they are, anything else (a dict...) as JSON."""
        p = self.path(name)
        if isinstance(content, bytes):
            with open(p, "wb") as f:
                f.write(content)
        else:
            with open(p, "w") as f:
                if isinstance(content, str):
                    f.write(content)
                else:
                    json.dump(content, f)
        if mode is not None:
            os.chmod(p, mode)
        return p

    def run(self, argv, input=None, uid=None, timeout=60):
        argv = [str(a) for a in argv]
        if uid is not None:
            argv = as_uid(uid) + argv
        return run(argv, input=input, timeout=timeout * SLOW, transcript=self.transcript)

    def cleanup(self, failed):
        """Stop the servers: SIGTERM and checks after a pass, SIGKILL after a failure."""
        errors = []
        for s in self.servers:
            if not s.running():
                continue
            if failed:
                s.kill()
                continue
            try:
                s.stop()
            except TestFailure as e:
                errors.append(str(e))
                s.kill()
        _kill_all()
        if failed:
            self.dump()
        if not os.environ.get("SIGIL_TEST_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("# kept %s" % self.dir)
        return errors

    def dump(self):
        print("# ---- last commands of %s ----" % self.name)
        for r in self.transcript[-15:]:
            print(re.sub("^", "# ", repr(r), flags=re.M))
        for s in self.servers:
            print("# ---- log of %s (%s) ----" % (s.name, s.log_path))
            print(re.sub("^", "# ", _clip(s.log(), 20000), flags=re.M))


def require_root():
    """Skip unless this test can run commands as other uids (root and setpriv)."""
    if os.geteuid() != 0:
        skip("needs root to run commands as other uids")
    if shutil.which("setpriv") is None:
        skip("needs setpriv (util-linux)")


def as_uid(uid):
    """The argv prefix that runs a command as uid (and the same gid), without groups.

    A credential change clears PR_SET_PDEATHSIG, so setpriv sets it again."""
    return ["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups",
            "--pdeathsig", "SIGKILL", "--"]


def _on_sigterm(signum, frame):
    raise Terminated()


def main():
    """Run the test_* functions of __main__ (or those named in argv) in order."""
    mod = sys.modules["__main__"]
    tests = [(n, f) for n, f in vars(mod).items() if n.startswith("test_") and callable(f)]
    if len(sys.argv) > 1:
        tests = [(n, f) for n, f in tests if n in sys.argv[1:]]
    if not os.access(SERVER_BIN, os.X_OK):
        print("sigil-server not found at %s (set SIGIL_SERVER or build into %s)"
              % (SERVER_BIN, BUILD_DIR))
        sys.exit(1)
    signal.signal(signal.SIGTERM, _on_sigterm)
    passed = failed = skipped = 0
    print("1..%d" % len(tests))
    for i, (name, fn) in enumerate(tests, 1):
        t = TestContext(name)
        start = time.monotonic()
        ok, why = False, ""
        try:
            fn(t)
            ok = True
        except TestSkip as e:
            skipped += 1
            why = str(e)
        except Terminated:
            print("not ok %d - %s # terminated" % (i, name))
            t.cleanup(True)
            sys.exit(1)
        except Exception:
            traceback.print_exc(file=sys.stdout)
        errors = t.cleanup(failed=not ok and not why)
        if ok and errors:
            ok = False
            for e in errors:
                print("# cleanup: " + e.replace("\n", "\n# "))
        took = time.monotonic() - start
        if why:
            print("ok %d - %s # SKIP %s" % (i, name, why))
        elif ok:
            passed += 1
            print("ok %d - %s (%.1fs)" % (i, name, took))
        else:
            failed += 1
            print("not ok %d - %s (%.1fs)" % (i, name, took))
        sys.stdout.flush()
    print("# %d passed, %d failed, %d skipped" % (passed, failed, skipped))
    if failed:
        sys.exit(1)
    if skipped and not passed:
        sys.exit(SKIP_EXIT)
    sys.exit(0)
