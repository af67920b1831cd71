#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""What survives a restart: entries, join-token node entries, federated bundles, the CA
(disk key manager) - and what must not (memory key manager). File modes of the state."""

import base64
import hashlib
import json
import os
import re
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, eq, openssl, pem_blocks  # noqa: E402

TD = sigiltest.TRUST_DOMAIN


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def key_files(s):
    """{name: sha256} of the files in the data dir's keys/."""
    d = os.path.join(s.data_dir, "keys")
    out = {}
    for n in sorted(os.listdir(d)):
        with open(os.path.join(d, n), "rb") as f:
            out[n] = hashlib.sha256(f.read()).hexdigest()
    return out


def snapshot(s):
    return {
        "entries": s.cli("entry", "show", output="json").ok().json(),
        "bundle": s.cli("bundle", "show", "-format", "spiffe").ok().out,
        "bundle_pem": s.bundle_pem(),
        "federated": s.cli("bundle", "list", "-format", "spiffe").ok().out,
        "count": s.cli("entry", "count").ok().out,
    }


def test_restart_keeps_state(t):
    s = t.server()
    td_node = "spiffe://%s/host/gpu-1" % TD
    tok = re.fullmatch(r"Token: (\S+)\n", s.cli("token", "generate", "-spiffeID", td_node)
                       .ok().out).group(1)
    s.cli("entry", "create", "-spiffeID", "spiffe://%s/web" % TD, "-parentID", td_node,
          "-selector", "unix:uid:1000", "-dns", "web.example.org", "-x509SVIDTTL", "600",
          "-federatesWith", "partner.test", "-hint", "h").ok()
    data = {"entries": [{"spiffe_id": "spiffe://%s/bulk/%d" % (TD, i), "parent_id": td_node,
                         "selectors": [{"type": "unix", "value": "uid:%d" % i}]}
                        for i in range(60)]}
    s.cli("entry", "create", "-data", t.write("e.json", json.dumps(data))).ok()
    upd = s.cli("entry", "show", "-spiffeID", "spiffe://%s/bulk/7" % TD, output="json").ok()
    eid = upd.json()["entries"][0]["id"]
    s.cli("entry", "update", "-entryID", eid, "-spiffeID", "spiffe://%s/bulk/7" % TD,
          "-parentID", td_node, "-selector", "unix:uid:7007").ok()
    other = t.server(name="partner", trust_domain="partner.test")
    s.cli("bundle", "set", "-id", "partner.test", "-format", "spiffe",
          input=other.cli("bundle", "show", "-format", "spiffe").ok().out).ok()
    before = snapshot(s)
    keys_before = key_files(s)
    eq(before["count"], "62 registration entries\n", "entries before the restart")

    s.restart()
    after = snapshot(s)
    for k in before:
        eq(after[k], before[k], "%s unchanged across a restart" % k)
    eq(key_files(s), keys_before, "CA and JWT keys not regenerated (keys/ unchanged)")
    eq(json.loads(after["bundle"])["spiffe_sequence"], 1, "spiffe_sequence not bumped")
    upd = [e for e in after["entries"]["entries"] if e["id"] == eid][0]
    eq(upd["revision_number"], "1", "revision kept")

    # SVIDs minted now chain to the bundle published before the restart.
    old_bundle = t.write("old-bundle.pem", before["bundle_pem"])
    leaf = pem_blocks(s.cli("x509", "mint", "-spiffeID", "spiffe://%s/w" % TD).ok().out)[0]
    openssl("verify", "-CAfile", old_bundle, t.write("leaf.pem", leaf), t=t).ok()

    # The token's node entry is still there, and a new token is a new value.
    node = [e for e in after["entries"]["entries"]
            if e["spiffe_id"]["path"] == "/host/gpu-1"][0]
    eq(node["parent_id"]["path"], "/sigil/agent/join_token/" + tok, "token node entry kept")
    tok2 = re.fullmatch(r"Token: (\S+)\n", s.cli("token", "generate").ok().out).group(1)
    check(tok2 != tok, "a new token after the restart is not the old one")

    # A second restart is just as quiet.
    s.restart()
    eq(snapshot(s), before, "unchanged after a second restart")


def test_state_file_modes(t):
    s = t.server()
    s.cli("entry", "create", "-spiffeID", "spiffe://%s/w" % TD, "-parentID",
          "spiffe://%s/n" % TD, "-selector", "unix:uid:1").ok()
    s.stop()                    # SQLite may keep -wal/-shm only while open: check both ways
    for running in (False, True):
        d = s.data_dir
        eq(oct(mode(d)), oct(0o700), "data dir mode")
        keys = os.path.join(d, "keys")
        eq(oct(mode(keys)), oct(0o700), "keys dir mode")
        check(os.listdir(keys), "keys/ is not empty with the disk key manager")
        for n in os.listdir(keys):
            eq(oct(mode(os.path.join(keys, n))), oct(0o600), "mode of keys/%s" % n)
        check(os.path.exists(os.path.join(d, "datastore.sqlite3")), "datastore file exists")
        for n in os.listdir(d):
            p = os.path.join(d, n)
            if n.startswith("datastore.sqlite3") or n.endswith(".lock"):
                eq(oct(mode(p)), oct(0o600), "mode of %s" % n)
            check(mode(p) & 0o077 == 0, "%s is not readable by others: %o" % (n, mode(p)))
        if not running:
            s.start()


def test_memory_key_manager(t):
    s = t.server(config={"key_manager": "memory"})
    check(not os.path.exists(os.path.join(s.data_dir, "keys")) or
          not os.listdir(os.path.join(s.data_dir, "keys")),
          "the memory key manager writes no keys")
    s.cli("entry", "create", "-spiffeID", "spiffe://%s/w" % TD, "-parentID",
          "spiffe://%s/n" % TD, "-selector", "unix:uid:1").ok()
    b1 = s.bundle_spiffe()
    s.restart()
    b2 = s.bundle_spiffe()
    x1 = [k["x5c"] for k in b1["keys"] if k["use"] == "x509-svid"]
    x2 = [k["x5c"] for k in b2["keys"] if k["use"] == "x509-svid"]
    j1 = [k["kid"] for k in b1["keys"] if k["use"] == "jwt-svid"]
    j2 = [k["kid"] for k in b2["keys"] if k["use"] == "jwt-svid"]
    eq((len(x2), len(j2)), (1, 1), "one X.509 and one JWT authority after a restart")
    check(x1 != x2, "a new X.509 CA after a restart with key_manager memory")
    check(j1 != j2, "a new JWT key after a restart with key_manager memory")
    check(b2["spiffe_sequence"] > b1["spiffe_sequence"],
          "spiffe_sequence increases: %d -> %d" % (b1["spiffe_sequence"], b2["spiffe_sequence"]))
    eq(s.cli("entry", "count").ok().out, "1 registration entry\n", "entries still persist")
    old = t.write("old.pem", "".join(
        sigiltest.der_to_pem(base64.b64decode(x[0])) for x in x1))
    leaf = t.write("leaf.pem", pem_blocks(
        s.cli("x509", "mint", "-spiffeID", "spiffe://%s/w" % TD).ok().out)[0])
    check(openssl("verify", "-CAfile", old, leaf, t=t).rc != 0,
          "an SVID of the new CA does not verify against the old bundle")
    openssl("verify", "-CAfile", t.write("new.pem", s.bundle_pem()), leaf, t=t).ok()


if __name__ == "__main__":
    sigiltest.main()
