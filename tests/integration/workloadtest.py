# SPDX-License-Identifier: Apache-2.0
"""workloadtest: what the Workload API tests add to agenttest's harness.

A Python gRPC client of the SPIFFE Workload API (Debian's python3-grpcio and
python3-protobuf; workload_pb2 is generated with protoc from proto/workload.proto
into a temp dir the first time it is needed, never committed), streams read by
a thread each, checks of what the API returns (DER chains verified with
openssl, PKCS#8 keys matched to their certificates, JWT-SVIDs verified with
jwcrypto against the JWKS of FetchJWTBundles), and a server with an agent and
entries for uid 0 set up in one call.

Run as a program, this file is the client another uid runs (through setpriv):
  workloadtest.py client SOCKET x509|bundles|jwt AUD|jwt-bundles|validate AUD TOKEN|
                             setuid UID|stream
prints one JSON line per answer ({"spiffe_ids": [...]} or {"code": ..., "details": ...});
`stream` prints one line per FetchX509SVID message until killed; `setuid` answers three
times: before and after it changes to UID on the same connection, then on a new one.
"""

import base64
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import grpc

HEADER = ("workload.spiffe.io", "true")
PB2_ENV = "SIGIL_WORKLOAD_PB2_DIR"
HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SIGIL_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))

_pb2 = None


def _generate_pb2():
    """protoc --python_out=<temp dir> -I proto proto/workload.proto; the dir is removed at exit."""
    d = tempfile.mkdtemp(prefix="sigil-wl-pb2-", dir="/tmp")
    os.chmod(d, 0o755)         # clients running as other uids import it too
    import atexit
    atexit.register(shutil.rmtree, d, True)
    proto = os.path.join(SOURCE_DIR, "proto")
    subprocess.run(["protoc", "--python_out=" + d, "-I", proto,
                    os.path.join(proto, "workload.proto")], check=True)
    os.environ[PB2_ENV] = d
    return d


def pb2():
    """The generated workload_pb2 module (generated once per process, or taken from the dir
    the parent named in $SIGIL_WORKLOAD_PB2_DIR)."""
    global _pb2
    if _pb2 is None:
        d = os.environ.get(PB2_ENV) or _generate_pb2()
        if d not in sys.path:
            sys.path.insert(0, d)
        import workload_pb2
        _pb2 = workload_pb2
    return _pb2


# ---- the client ----

# method -> (request class name, response class name, streaming)
METHODS = {
    "FetchX509SVID": ("X509SVIDRequest", "X509SVIDResponse", True),
    "FetchX509Bundles": ("X509BundlesRequest", "X509BundlesResponse", True),
    "FetchJWTSVID": ("JWTSVIDRequest", "JWTSVIDResponse", False),
    "FetchJWTBundles": ("JWTBundlesRequest", "JWTBundlesResponse", True),
    "ValidateJWTSVID": ("ValidateJWTSVIDRequest", "ValidateJWTSVIDResponse", False),
    "FetchWITSVID": ("WITSVIDRequest", "WITSVIDResponse", True),
    "FetchWITBundles": ("WITBundlesRequest", "WITBundlesResponse", True),
}


class Client:
    """One channel (its own connection) to a Workload API socket."""

    def __init__(self, sock, timeout=10):
        self.sock = sock
        self.timeout = timeout
        # A local subchannel pool: every Client is a connection of its own.
        self.channel = grpc.insecure_channel("unix:" + sock,
                                             options=[("grpc.use_local_subchannel_pool", 1)])

    def close(self):
        self.channel.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def method(self, name):
        req, resp, streaming = METHODS[name]
        m = pb2()
        make = self.channel.unary_stream if streaming else self.channel.unary_unary
        return make("/SpiffeWorkloadAPI/" + name,
                    request_serializer=getattr(m, req).SerializeToString,
                    response_deserializer=getattr(m, resp).FromString)

    def request(self, name, **fields):
        return getattr(pb2(), METHODS[name][0])(**fields)

    def call(self, name, metadata=(HEADER,), timeout=None, **fields):
        """A unary call, or the first message of a stream (the stream is then cancelled).
        Raises grpc.RpcError."""
        timeout = timeout or self.timeout
        rpc = self.method(name)(self.request(name, **fields), metadata=list(metadata),
                                timeout=timeout)
        if not METHODS[name][2]:
            return rpc
        try:
            return next(rpc)
        finally:
            rpc.cancel()

    def status(self, name, metadata=(HEADER,), **fields):
        """(status code, details) of a call that must fail; (OK, None) if it succeeded."""
        try:
            self.call(name, metadata=metadata, **fields)
        except grpc.RpcError as e:
            return e.code(), e.details()
        return grpc.StatusCode.OK, None

    def x509(self):
        return self.call("FetchX509SVID")

    def jwt(self, audience, spiffe_id=""):
        return self.call("FetchJWTSVID", audience=list(audience), spiffe_id=spiffe_id)

    def validate(self, audience, svid):
        return self.call("ValidateJWTSVID", audience=audience, svid=svid)

    def stream(self, name="FetchX509SVID", metadata=(HEADER,)):
        return Stream(self, name, metadata)


class Stream:
    """A server stream read by a thread of its own: every message with the time it came, and
    how the stream ended."""

    def __init__(self, client, name, metadata=(HEADER,)):
        self.name = name
        self.msgs = []
        self.times = []
        self.end = None             # (code, details) once ended
        self.cond = threading.Condition()
        self.call = client.method(name)(client.request(name), metadata=list(metadata))
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for m in self.call:
                with self.cond:
                    self.msgs.append(m)
                    self.times.append(time.monotonic())
                    self.cond.notify_all()
            end = (grpc.StatusCode.OK, None)
        except grpc.RpcError as e:
            end = (e.code(), e.details())
        with self.cond:
            self.end = end
            self.cond.notify_all()

    def wait(self, pred, timeout, what):
        """Wait until pred(messages) is true; returns the last message. Fails after timeout s
        or when the stream ends first."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (self.msgs and pred(self.msgs)):
                left = deadline - time.monotonic()
                if self.end is not None:
                    raise AssertionError("%s: stream %s ended with %s before %s"
                                         % (what, self.name, self.end, what))
                if left <= 0:
                    raise AssertionError("timed out after %.1f s waiting for %s (%d messages; "
                                         "last: %s)" % (timeout, what, len(self.msgs),
                                                        describe(self.msgs[-1])
                                                        if self.msgs else None))
                self.cond.wait(left)
            return self.msgs[-1]

    def wait_count(self, n, timeout, what=None):
        return self.wait(lambda m: len(m) >= n, timeout, what or "message %d" % n)

    def wait_end(self, timeout):
        """(code, details) of the stream's end; fails if it is still open after timeout s."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.end is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("stream %s still open after %.1f s (%d messages)"
                                         % (self.name, timeout, len(self.msgs)))
                self.cond.wait(left)
            return self.end

    def count(self):
        with self.cond:
            return len(self.msgs)

    def last(self):
        with self.cond:
            return self.msgs[-1] if self.msgs else None

    def cancel(self):
        self.call.cancel()
        self.thread.join(10)


def describe(m):
    """A short text for a message (for failure reports)."""
    if hasattr(m, "svids"):
        return "svids=%s" % [(s.spiffe_id, getattr(s, "hint", "")) for s in m.svids]
    if hasattr(m, "bundles"):
        return "bundles=%s" % sorted(m.bundles)
    return str(m)[:300]


def ids(msg):
    """The SPIFFE IDs of an X509SVIDResponse or JWTSVIDResponse, in order."""
    return [s.spiffe_id for s in msg.svids]


# ---- DER, certificates, keys ----

def der_elements(der):
    """Split concatenated DER elements (certificates) into a list of bytes."""
    out, i = [], 0
    while i < len(der):
        if der[i] != 0x30 or i + 2 > len(der):
            raise ValueError("not a DER SEQUENCE at offset %d" % i)
        n, hdr = der[i + 1], 2
        if n & 0x80:
            k = n & 0x7f
            if k == 0 or k > 4 or i + 2 + k > len(der):
                raise ValueError("bad DER length at offset %d" % i)
            n = int.from_bytes(der[i + 2:i + 2 + k], "big")
            hdr = 2 + k
        if i + hdr + n > len(der):
            raise ValueError("DER element at offset %d runs past the end" % i)
        out.append(der[i:i + hdr + n])
        i += hdr + n
    return out


def _der_children(der):
    """The elements inside one DER SEQUENCE."""
    (seq,) = der_elements(der)
    hdr = 2 + (seq[1] & 0x7f if seq[1] & 0x80 else 0)
    body, out, i = seq[hdr:], [], 0
    while i < len(body):
        tag, n, h = body[i], body[i + 1], 2
        if n & 0x80:
            k = n & 0x7f
            n = int.from_bytes(body[i + 2:i + 2 + k], "big")
            h = 2 + k
        out.append((tag, body[i + h:i + h + n]))
        i += h + n
    return out


def is_pkcs8(der):
    """PrivateKeyInfo: SEQUENCE { INTEGER 0, AlgorithmIdentifier SEQUENCE, OCTET STRING }
    (not SEC1's ECPrivateKey, whose version is 1 and second element an OCTET STRING)."""
    try:
        kids = _der_children(der)
    except (ValueError, IndexError):
        return False
    return (len(kids) >= 3 and kids[0] == (0x02, b"\x00") and kids[1][0] == 0x30 and
            kids[2][0] == 0x04)


def pem(der, kind="CERTIFICATE"):
    b64 = base64.b64encode(der).decode()
    return "-----BEGIN %s-----\n%s\n-----END %s-----\n" % (
        kind, "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)), kind)


def certs_pem(der):
    return "".join(pem(c) for c in der_elements(der))


def cert_dates(t, der):
    """(notBefore, notAfter) of a DER certificate, as Unix times (read by openssl)."""
    import calendar
    from sigiltest import openssl
    path = t.write("cert-%d.der" % time.monotonic_ns(), der)
    out = openssl("x509", "-inform", "DER", "-in", path, "-noout", "-startdate", "-enddate",
                  t=t).ok().out
    vals = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return tuple(calendar.timegm(time.strptime(vals[k].strip(), "%b %d %H:%M:%S %Y GMT"))
                 for k in ("notBefore", "notAfter"))


def verify_chain(t, chain_der, ca_der, at=None):
    """Whether `openssl verify` accepts the leaf of chain_der against the CAs of ca_der
    (the rest of the chain as untrusted intermediates), now or at Unix time at; returns
    the Result."""
    from sigiltest import openssl
    chain = der_elements(chain_der)
    n = time.monotonic_ns()
    leaf = t.write("leaf-%d.pem" % n, pem(chain[0]))
    args = ["verify", "-CAfile", t.write("ca-%d.pem" % n, certs_pem(ca_der))]
    if at is not None:
        args += ["-attime", str(int(at))]
    if len(chain) > 1:
        args += ["-untrusted", t.write("im-%d.pem" % n, "".join(pem(c) for c in chain[1:]))]
    return openssl(*(args + [leaf]), t=t)


# ---- the server side, for streams and CLI tests ----

def setup(t, server_config=None, agent_config=None, entries=(), agent_kw=None):
    """A server and an agent (join token) on t, t.dir reachable by other uids. entries:
    (spiffe ID path, selectors, extra flags) created under the agent before it starts.
    Returns (server, agent, agent ID, {path: entry ID})."""
    from agenttest import Agent, agent_id_of_token, create_entry, join_token, TD
    os.chmod(t.dir, 0o711)
    s = t.server(config=server_config)
    tok = join_token(s)
    agent_id = agent_id_of_token(tok)
    made = {}
    for path, sels, extra in entries:
        made[path] = create_entry(s, "spiffe://%s%s" % (TD, path), agent_id, sels,
                                  extra=extra)
    a = Agent(t, s, join_token=tok, config=agent_config, **(agent_kw or {})).start()
    if entries:
        a.wait_svids(["spiffe://%s%s" % (TD, p) for p, _, _ in entries])
    return s, a, agent_id, made


def wait_for(pred, timeout, what, interval=0.05):
    """Poll pred() until it returns something true (returned); fail after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def socket_fds(pid):
    """How many sockets process pid has open."""
    n = 0
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            n += os.readlink(os.path.join(d, fd)).startswith("socket:")
        except OSError:
            pass
    return n


class Proc:
    """A child process whose stdout lines are read by a thread (for `api watch` and for
    clients running as other uids)."""

    def __init__(self, argv, env=None):
        import sigiltest
        self.argv = [str(a) for a in argv]
        self.lines = queue.Queue()
        self.out = []
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, env=env,
                                     preexec_fn=sigiltest._child_setup)
        sigiltest._live.add(self.proc)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def next_line(self, timeout, pred=lambda line: True, what="a line"):
        """The next stdout line for which pred is true; fails after timeout s or at EOF."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(0.01, left))
            except queue.Empty:
                line = False
            if line is None:
                raise AssertionError("%s exited (%s) before %s; stdout:\n%s\nstderr:\n%s"
                                     % (" ".join(self.argv), self.proc.wait(), what,
                                        "".join(self.out)[-3000:], self.proc.stderr.read()))
            if line and pred(line):
                return line
            if left <= 0:
                raise AssertionError("timed out after %.1f s waiting for %s from %s; stdout:\n%s"
                                     % (timeout, what, " ".join(self.argv),
                                        "".join(self.out)[-3000:]))

    def kill(self):
        import sigiltest
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        sigiltest._live.discard(self.proc)


def client_argv(sock, *what):
    """The argv of this file's client mode (see the module docstring)."""
    pb2()       # make sure the generated code exists and $SIGIL_WORKLOAD_PB2_DIR names it
    return ["/usr/bin/python3", os.path.abspath(__file__), "client", sock] + list(what)


# ---- client mode: run by other uids ----

def _answer(fn):
    try:
        return {"spiffe_ids": ids(fn())}
    except grpc.RpcError as e:
        return {"code": e.code().name, "details": e.details()}


def _client_main(argv):
    sock, what = argv[0], argv[1]
    c = Client(sock)
    if what == "x509":
        out = _answer(c.x509)
    elif what == "jwt":
        out = _answer(lambda: c.jwt([argv[2]]))
    elif what == "validate":
        try:
            out = {"spiffe_id": c.validate(argv[2], argv[3]).spiffe_id}
        except grpc.RpcError as e:
            out = {"code": e.code().name, "details": e.details()}
    elif what in ("bundles", "jwt-bundles"):
        name = "FetchX509Bundles" if what == "bundles" else "FetchJWTBundles"
        try:
            out = {"bundles": sorted(c.call(name).bundles)}
        except grpc.RpcError as e:
            out = {"code": e.code().name, "details": e.details()}
    elif what == "setuid":
        # Fetch, become uid argv[2] with the connection still open, fetch again on it, then
        # on a new connection: one JSON line each.
        print(json.dumps(_answer(c.x509)), flush=True)
        uid = int(argv[2])
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        print(json.dumps(_answer(c.x509)), flush=True)
        out = _answer(Client(sock).x509)
    elif what == "stream":
        try:
            for m in c.method("FetchX509SVID")(c.request("FetchX509SVID"),
                                               metadata=[HEADER]):
                print(json.dumps({"spiffe_ids": ids(m)}), flush=True)
            out = {"code": "OK"}
        except grpc.RpcError as e:
            out = {"code": e.code().name, "details": e.details()}
    else:
        raise SystemExit("unknown client command %r" % what)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "client":
        _client_main(sys.argv[2:])
    else:
        raise SystemExit(__doc__)
