#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""sigil-server entry create/show/update/delete/count against a real server."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigiltest  # noqa: E402
from sigiltest import check, contains, eq, parse_blocks  # noqa: E402

TD = sigiltest.TRUST_DOMAIN
NODE = "spiffe://%s/node" % TD


def sid(path):
    return "spiffe://%s/%s" % (TD, path)


def blocks(r):
    """(head lines, entry blocks) of an `entry show`/`create` text output."""
    head = []
    return head, parse_blocks(r.out, head)


def shown_ids(r):
    return [b["SPIFFE ID"] for b in blocks(r)[1]]


def create(s, spiffe_id, *selectors, parent=NODE, extra=()):
    args = ["entry", "create", "-spiffeID", spiffe_id, "-parentID", parent]
    for sel in selectors:
        args += ["-selector", sel]
    r = s.cli(*(args + list(extra))).ok()
    b = blocks(r)[1]
    eq(len(b), 1, "entries printed by create")
    return b[0]


def test_create_with_every_flag(t):
    s = t.server()
    r = s.cli("entry", "create", "-spiffeID", sid("web"), "-parentID", NODE,
              "-selector", "unix:uid:1000", "-selector", "unix:gid:50",
              "-x509SVIDTTL", "30m", "-jwtSVIDTTL", "120", "-dns", "web.example.org",
              "-dns", "www.example.org", "-federatesWith", "spiffe://partner.test",
              "-federatesWith", "other.test", "-admin", "-downstream",
              "-entryExpiry", "1999999999", "-hint", "internal").ok()
    eq(r.err, "", "stderr of a successful create")
    _, b = blocks(r)
    eq(len(b), 1, "entries printed")
    e = b[0]
    check(len(e["Entry ID"]) == 36, "entry ID looks like a UUID: %r" % e["Entry ID"])
    eq(e["SPIFFE ID"], sid("web"), "SPIFFE ID")
    eq(e["Parent ID"], NODE, "Parent ID")
    eq(e["Revision"], "0", "Revision")
    eq(e["X509-SVID TTL"], "1800", "X509-SVID TTL")
    eq(e["JWT-SVID TTL"], "120", "JWT-SVID TTL")
    eq(e["Selector"], ["unix:gid:50", "unix:uid:1000"], "selectors, sorted")
    eq(e["DNS name"], ["web.example.org", "www.example.org"], "DNS names in order")
    eq(sorted(e["FederatesWith"]), ["other.test", "partner.test"], "federatesWith, bare")
    eq(e["Admin"], "true", "Admin")
    eq(e["Downstream"], "true", "Downstream")
    eq(e["Expiration time"], "2033-05-18 03:33:19 +0000 UTC", "Expiration time")
    eq(e["Hint"], "internal", "Hint")

    # The stored entry reads back identically, as text and as JSON.
    shown = s.cli("entry", "show", "-entryID", e["Entry ID"]).ok()
    head, sb = blocks(shown)
    eq(head, ["Found 1 entry"], "head of entry show")
    eq(sb, [e], "entry show -entryID reads back what create printed")
    j = s.cli("entry", "show", "-entryID", e["Entry ID"], output="json").ok().json()
    eq(len(j["entries"]), 1, "JSON entries")
    je = j["entries"][0]
    eq(je["id"], e["Entry ID"], "JSON id")
    eq(je["spiffe_id"], {"trust_domain": TD, "path": "/web"}, "JSON spiffe_id object")
    eq(je["parent_id"], {"trust_domain": TD, "path": "/node"}, "JSON parent_id object")
    eq(je["x509_svid_ttl"], 1800, "JSON x509_svid_ttl (int32: a number)")
    eq(je["jwt_svid_ttl"], 120, "JSON jwt_svid_ttl")
    eq(je["expires_at"], "1999999999", "JSON expires_at (int64: a string)")
    eq(je["revision_number"], "0", "JSON revision_number")
    eq(je["admin"], True, "JSON admin")
    eq(je["downstream"], True, "JSON downstream")
    eq(je["hint"], "internal", "JSON hint")
    eq(je["dns_names"], ["web.example.org", "www.example.org"], "JSON dns_names")
    eq(sorted(je["federates_with"]), ["other.test", "partner.test"], "JSON federates_with")
    eq(je["selectors"], [{"type": "unix", "value": "gid:50"},
                         {"type": "unix", "value": "uid:1000"}], "JSON selectors")
    check(isinstance(je["created_at"], str) and int(je["created_at"]) > 1600000000,
          "JSON created_at is an int64 string: %r" % je["created_at"])
    eq(j["next_page_token"], "", "next_page_token")


def test_create_defaults_and_forms(t):
    s = t.server()
    # Unset fields are not printed; TTL 0 prints as 'default'.
    e = create(s, sid("plain"), "unix:uid:1")
    eq(e["X509-SVID TTL"], "default", "unset X509-SVID TTL")
    eq(e["JWT-SVID TTL"], "default", "unset JWT-SVID TTL")
    for k in ("DNS name", "FederatesWith", "Admin", "Downstream", "Expiration time", "Hint"):
        check(k not in e, "unset field %r is not printed: %r" % (k, e))
    # -node: the parent is the server itself.
    n = s.cli("entry", "create", "-node", "-spiffeID", sid("gpu-nodes"),
              "-selector", "x509pop:subject:cn:gpu").ok()
    eq(blocks(n)[1][0]["Parent ID"], "spiffe://%s/sigil/server" % TD, "parent of -node")
    # --flag and -flag=value forms, booleans =false, durations.
    r = s.cli("entry", "create", "--spiffeID=" + sid("forms"), "--parentID", NODE,
              "-selector=unix:uid:2", "-admin=false", "-downstream=true",
              "-x509SVIDTTL=1h30m", "-jwtSVIDTTL", "2d").ok()
    f = blocks(r)[1][0]
    eq(f["X509-SVID TTL"], "5400", "1h30m in seconds")
    eq(f["JWT-SVID TTL"], "172800", "2d in seconds")
    check("Admin" not in f, "-admin=false leaves admin unset")
    eq(f["Downstream"], "true", "-downstream=true")
    # The same entry with another parent is a different entry.
    create(s, sid("plain"), "unix:uid:1", parent=sid("node2"))
    eq(s.cli("entry", "count").ok().out, "4 registration entries\n", "entry count")
    eq(s.cli("entry", "count", output="json").ok().json(), {"count": 4}, "count JSON")


def test_create_from_data_file_and_stdin(t):
    s = t.server()
    data = {"entries": [
        {"spiffe_id": sid("a"), "parent_id": NODE,
         "selectors": [{"type": "unix", "value": "uid:1"}], "x509_svid_ttl": 1800,
         "jwt_svid_ttl": 300, "dns_names": ["a.example.org"],
         "federates_with": ["spiffe://partner.test"], "admin": True, "downstream": False,
         "expires_at": 1999999999, "hint": "h-a", "store_svid": False},
        {"spiffe_id": sid("b"), "parent_id": NODE,
         "selectors": [{"type": "k8s", "value": "ns:prod"}], "ttl": 600},
        {"spiffe_id": sid("c"), "parent_id": sid("b"),
         "selectors": [{"type": "unix", "value": "uid:3"}],
         "entry_id": "0e8e1f0c-5d0a-4d44-8d4e-1b3c5a7f9e21"},
    ]}
    path = t.write("entries.json", json.dumps(data))
    r = s.cli("entry", "create", "-data", path).ok()
    _, b = blocks(r)
    eq(sorted(x["SPIFFE ID"] for x in b), [sid("a"), sid("b"), sid("c")], "created from file")
    by = {x["SPIFFE ID"]: x for x in b}
    eq(by[sid("a")]["X509-SVID TTL"], "1800", "x509_svid_ttl from file")
    eq(by[sid("a")]["DNS name"], ["a.example.org"], "dns_names from file")
    eq(by[sid("a")]["FederatesWith"], ["partner.test"], "federates_with stored bare")
    eq(by[sid("a")]["Hint"], "h-a", "hint from file")
    eq(by[sid("b")]["X509-SVID TTL"], "600", "'ttl' is the older name of x509_svid_ttl")
    eq(by[sid("c")]["Entry ID"], "0e8e1f0c-5d0a-4d44-8d4e-1b3c5a7f9e21", "asked-for entry ID")

    # -data - reads stdin; more than one batch of 50 entries.
    many = {"entries": [{"spiffe_id": sid("bulk/%03d" % i), "parent_id": NODE,
                         "selectors": [{"type": "unix", "value": "uid:%d" % (1000 + i)}]}
                        for i in range(120)]}
    r = s.cli("entry", "create", "-data", "-", input=json.dumps(many), output="json").ok()
    res = r.json()["results"]
    eq(len(res), 120, "results of a 120-entry -data -")
    check(all(x["status"]["code"] == 0 and x["entry"] for x in res),
          "every entry of the stdin batch created")
    eq(s.cli("entry", "count").ok().out, "123 registration entries\n", "count after -data")
    # The JSON create output is the entry, as show gives it.
    one = [x["entry"] for x in res if x["entry"]["spiffe_id"]["path"] == "/bulk/007"][0]
    j = s.cli("entry", "show", "-entryID", one["id"], output="json").ok().json()
    eq(j["entries"], [one], "entry create JSON equals entry show JSON")


def test_create_partial_failure_and_duplicates(t):
    s = t.server()
    create(s, sid("dup"), "unix:uid:1")
    r = s.cli("entry", "create", "-spiffeID", sid("dup"), "-parentID", NODE,
              "-selector", "unix:uid:1").fails(1, "AlreadyExists").one_error_line()
    contains(r.err, "failed to create entry for %s (parent %s)" % (sid("dup"), NODE),
             "duplicate error")
    eq(r.out, "", "nothing printed for a refused single entry")
    # In a file: each entry fails on its own, the others are created and printed.
    data = {"entries": [
        {"spiffe_id": sid("new1"), "parent_id": NODE,
         "selectors": [{"type": "unix", "value": "uid:7"}]},
        {"spiffe_id": sid("dup"), "parent_id": NODE,
         "selectors": [{"type": "unix", "value": "uid:1"}]},
        {"spiffe_id": sid("new2"), "parent_id": NODE,
         "selectors": [{"type": "unix", "value": "uid:8"}]},
    ]}
    r = s.cli("entry", "create", "-data", t.write("d.json", json.dumps(data)))
    r.fails(1, r"^Error: failed to create entry for %s .*AlreadyExists" % sid("dup"))
    r.one_error_line()
    eq(sorted(shown_ids(r)), [sid("new1"), sid("new2")], "created entries still printed")
    eq(s.cli("entry", "count").ok().out, "3 registration entries\n", "count")
    # JSON: the failed one has its status and a null entry.
    r = s.cli("entry", "create", "-data", t.write("d2.json", json.dumps(
        {"entries": data["entries"][1:2]})), output="json")
    eq(r.rc, 1, "exit status of a failed JSON create")
    res = r.json()["results"]
    eq(len(res), 1, "one result")
    eq(res[0]["status"]["code"], 6, "ALREADY_EXISTS status code")
    eq(res[0]["entry"], None, "entry of a failed result")
    check(s.healthy(), "server healthy after refusals")


def test_show_filters(t):
    s = t.server()
    e1 = create(s, sid("svc/a"), "unix:uid:1", extra=["-hint", "blue"])
    create(s, sid("svc/b"), "unix:uid:1", "unix:gid:2", extra=["-federatesWith", "partner.test"])
    create(s, sid("svc/c"), "unix:gid:2", "k8s:ns:prod", parent=sid("other-node"))
    create(s, sid("svc/a"), "unix:uid:9", parent=sid("other-node"))

    all_ = s.cli("entry", "show").ok()
    head, b = blocks(all_)
    eq(head, ["Found 4 entries"], "head of entry show")
    eq([(x["SPIFFE ID"], x["Parent ID"]) for x in b],
       [(sid("svc/a"), NODE), (sid("svc/a"), sid("other-node")),
        (sid("svc/b"), NODE), (sid("svc/c"), sid("other-node"))],
       "sorted by SPIFFE ID, then parent ID")
    check(all_.out.endswith("\n\n"), "every block ends with a blank line")

    eq(shown_ids(s.cli("entry", "show", "-spiffeID", sid("svc/a")).ok()),
       [sid("svc/a"), sid("svc/a")], "-spiffeID filter")
    eq(shown_ids(s.cli("entry", "show", "-parentID", sid("other-node")).ok()),
       [sid("svc/a"), sid("svc/c")], "-parentID filter")
    eq(shown_ids(s.cli("entry", "show", "-spiffeID", sid("svc/a"), "-parentID", NODE).ok()),
       [sid("svc/a")], "filters combine with AND")
    eq(shown_ids(s.cli("entry", "show", "-federatesWith", "spiffe://partner.test").ok()),
       [sid("svc/b")], "-federatesWith filter")
    eq(shown_ids(s.cli("entry", "show", "-hint", "blue").ok()), [sid("svc/a")], "-hint filter")
    eq(blocks(s.cli("entry", "show", "-entryID", e1["Entry ID"]).ok())[1][0]["Entry ID"],
       e1["Entry ID"], "-entryID filter")
    r = s.cli("entry", "show", "-spiffeID", sid("nothing")).ok()
    eq(r.out.splitlines()[0], "Found 0 entries", "no match")
    j = s.cli("entry", "show", "-parentID", sid("other-node"), output="json").ok().json()
    eq(sorted(e["spiffe_id"]["path"] for e in j["entries"]), ["/svc/a", "/svc/c"], "JSON show")


def test_show_selector_match_modes(t):
    s = t.server()
    create(s, sid("one"), "a:1")
    create(s, sid("two"), "a:1", "b:2")
    create(s, sid("three"), "b:2", "c:3")

    def q(mode, *sels):
        args = ["entry", "show"]
        for x in sels:
            args += ["-selector", x]
        if mode:
            args += ["-matchSelectorsOn", mode]
        return sorted(p.rsplit("/", 1)[1] for p in shown_ids(s.cli(*args).ok()))

    eq(q("exact", "a:1", "b:2"), ["two"], "exact {a,b}")
    eq(q("subset", "a:1", "b:2"), ["one", "two"], "subset {a,b}")
    eq(q("superset", "a:1", "b:2"), ["two"], "superset {a,b}")
    eq(q("any", "a:1", "b:2"), ["one", "three", "two"], "any {a,b}")
    eq(q("exact", "a:1"), ["one"], "exact {a}")
    eq(q("subset", "a:1"), ["one"], "subset {a}")
    eq(q("superset", "a:1"), ["one", "two"], "superset {a}")
    eq(q(None, "a:1"), ["one", "two"], "default is superset")
    eq(q("any", "c:3", "z:9"), ["three"], "any {c,z}")
    eq(q("exact", "z:9"), [], "exact, no match")
    eq(q("subset", "a:1", "b:2", "c:3"), ["one", "three", "two"], "subset of all")


def test_update(t):
    s = t.server()
    e = create(s, sid("upd"), "unix:uid:1", extra=["-dns", "old.example.org", "-hint", "x"])
    eid = e["Entry ID"]
    r = s.cli("entry", "update", "-entryID", eid, "-spiffeID", sid("upd2"), "-parentID", NODE,
              "-selector", "unix:uid:2", "-x509SVIDTTL", "600").ok()
    u = blocks(r)[1][0]
    eq(u["Entry ID"], eid, "same entry ID")
    eq(u["SPIFFE ID"], sid("upd2"), "new SPIFFE ID")
    eq(u["Selector"], ["unix:uid:2"], "selectors replaced")
    eq(u["X509-SVID TTL"], "600", "TTL set")
    eq(u["Revision"], "1", "revision after one update")
    check("DNS name" not in u and "Hint" not in u,
          "update replaces every field (unset ones cleared): %r" % u)
    r = s.cli("entry", "update", "-entryID", eid, "-node", "-spiffeID", sid("upd2"),
              "-selector", "unix:uid:3").ok()
    eq(blocks(r)[1][0]["Revision"], "2", "revision after two updates")
    eq(blocks(r)[1][0]["Parent ID"], "spiffe://%s/sigil/server" % TD, "update -node")
    # With -data, and as JSON: revision_number is an int64 string.
    data = {"entries": [{"entry_id": eid, "spiffe_id": sid("upd3"), "parent_id": NODE,
                         "selectors": [{"type": "unix", "value": "uid:4"}]}]}
    j = s.cli("entry", "update", "-data", t.write("u.json", json.dumps(data)),
              output="json").ok().json()
    eq(j["results"][0]["status"]["code"], 0, "update status")
    eq(j["results"][0]["entry"]["revision_number"], "3", "revision via -data")
    shown = blocks(s.cli("entry", "show", "-entryID", eid).ok())[1][0]
    eq((shown["SPIFFE ID"], shown["Revision"]), (sid("upd3"), "3"), "update persisted")
    eq(s.cli("entry", "count").ok().out, "1 registration entry\n", "update does not add")
    # Updating into a duplicate of another entry is refused.
    create(s, sid("other"), "unix:uid:5")
    s.refuses("entry", "update", "-entryID", eid, "-spiffeID", sid("other"), "-parentID", NODE,
              "-selector", "unix:uid:5", match="AlreadyExists")
    s.refuses("entry", "update", "-entryID", "00000000-0000-4000-8000-000000000000",
              "-spiffeID", sid("x"), "-parentID", NODE, "-selector", "unix:uid:1",
              match=r"^Error: failed to update entry 00000000-0000-4000-8000-000000000000: "
                    r"rpc error: code = NotFound")
    s.refuses("entry", "update", "-spiffeID", sid("x"), "-parentID", NODE,
              "-selector", "unix:uid:1", rc=2, match="-entryID")
    nodata = {"entries": [{"spiffe_id": sid("x"), "parent_id": NODE,
                           "selectors": [{"type": "unix", "value": "uid:1"}]}]}
    s.refuses("entry", "update", "-data", t.write("n.json", json.dumps(nodata)),
              match="entry_id")
    eq(blocks(s.cli("entry", "show", "-entryID", eid).ok())[1][0]["Revision"], "3",
       "refused updates leave the revision")


def test_delete_and_count(t):
    s = t.server()
    eq(s.cli("entry", "count").ok().out, "0 registration entries\n", "count on empty server")
    eq(s.cli("entry", "show").ok().out.splitlines()[0], "Found 0 entries", "show on empty")
    a = create(s, sid("del/a"), "unix:uid:1")
    create(s, sid("del/b"), "unix:uid:2")
    r = s.cli("entry", "delete", "-entryID", a["Entry ID"]).ok()
    eq(r.out, "Deleted entry with ID: %s\n" % a["Entry ID"], "delete output")
    eq(s.cli("entry", "count").ok().out, "1 registration entry\n", "count after delete")
    s.refuses("entry", "show", "-entryID", a["Entry ID"],
              match=r"^Error: error fetching entry ID %s: rpc error: code = NotFound"
                    % a["Entry ID"])
    s.refuses("entry", "delete", "-entryID", a["Entry ID"],
              match=r"^Error: failed to delete entry %s: rpc error: code = NotFound"
                    % a["Entry ID"])
    eq(shown_ids(s.cli("entry", "show").ok()), [sid("del/b")], "the other entry stays")
    b = blocks(s.cli("entry", "show").ok())[1][0]
    j = s.cli("entry", "delete", "-entryID", b["Entry ID"], output="json").ok().json()
    eq(j, {"results": [{"status": {"code": 0, "message": "OK"}, "id": b["Entry ID"]}]},
       "entry delete JSON")
    eq(s.cli("entry", "count", output="json").ok().json(), {"count": 0}, "count JSON")


def test_bad_flags(t):
    s = t.server()
    base = ["-parentID", NODE, "-selector", "unix:uid:1"]
    usage = [
        (["-parentID", NODE, "-selector", "unix:uid:1"], r"^Error: -spiffeID is required"),
        (["-spiffeID", sid("w"), "-selector", "unix:uid:1"], r"-parentID"),
        (["-spiffeID", sid("w"), "-parentID", NODE], r"-selector"),
        (["-spiffeID", sid("w"), "-colour", "red"] + base,
         r"^Error: flag provided but not defined: -colour\n"),
        (["-spiff", sid("w")] + base, r"^Error: flag provided but not defined: -spiff"),
        (["-spiffeID", sid("w"), "extra"] + base, r"unexpected argument 'extra'"),
        (["-spiffeID", "example.org/w"] + base,
         r"^Error: invalid -spiffeID 'example.org/w': scheme is missing or invalid"),
        (["-spiffeID", "spiffe://Example.org/w"] + base, r"invalid -spiffeID .*trust domain"),
        (["-spiffeID", "spiffe://example.org/a/../b"] + base, r"invalid -spiffeID.*'\.\.'"),
        (["-spiffeID", "spiffe://example.org/a//b"] + base, r"invalid -spiffeID"),
        (["-spiffeID", "spiffe://example.org/a?q=1"] + base, r"invalid -spiffeID.*query"),
        (["-spiffeID", "spiffe://example.org/a#f"] + base, r"invalid -spiffeID.*fragment"),
        (["-spiffeID", "spiffe://example.org/" + "a" * 2100] + base, r"invalid -spiffeID"),
        (["-spiffeID", sid("w"), "-parentID", "not-an-id", "-selector", "unix:uid:1"],
         r"invalid -parentID"),
        (["-spiffeID", sid("w"), "-node", "-parentID", NODE, "-selector", "unix:uid:1"],
         r"can't be combined"),
        (["-spiffeID", sid("w"), "-parentID", NODE, "-selector", "Unix:uid:1"],
         r"invalid selector 'Unix:uid:1'"),
        (["-spiffeID", sid("w"), "-parentID", NODE, "-selector", "unixuid"],
         r"invalid selector 'unixuid'"),
        (["-spiffeID", sid("w"), "-parentID", NODE, "-selector", ":uid"], r"invalid selector"),
        (["-spiffeID", sid("w"), "-x509SVIDTTL", "-5"] + base, r"invalid -x509SVIDTTL '-5'"),
        (["-spiffeID", sid("w"), "-x509SVIDTTL", "1.5h"] + base, r"invalid -x509SVIDTTL"),
        (["-spiffeID", sid("w"), "-x509SVIDTTL", "abc"] + base, r"invalid -x509SVIDTTL"),
        (["-spiffeID", sid("w"), "-x509SVIDTTL", "2147483648"] + base,
         r"invalid -x509SVIDTTL"),
        (["-spiffeID", sid("w"), "-jwtSVIDTTL", "5y"] + base, r"invalid -jwtSVIDTTL"),
        (["-spiffeID", sid("w"), "-entryExpiry", "soon"] + base, r"-entryExpiry"),
        (["-spiffeID", sid("w"), "-federatesWith", "Bad TD"] + base, r"-federatesWith"),
        (["-spiffeID", sid("w"), "-admin", "false"] + base, r"unexpected argument 'false'"),
        (["-spiffeID", sid("w"), "-admin=maybe"] + base, r"-admin"),
        (["-spiffeID", sid("w"), "-data", "x.json"] + base, r"-data can't be combined"),
        (["-spiffeID", sid("w"), "-output", "yaml"] + base, r"-output"),
    ]
    for args, match in usage:
        s.refuses("entry", "create", *args, rc=2, match=match)
    for args, match in [
            (["-matchSelectorsOn", "exact"], r"needs at least one -selector"),
            (["-selector", "a:1", "-matchSelectorsOn", "bogus"], r"invalid -matchSelectorsOn"),
            (["-entryID", "x", "-spiffeID", sid("w")], r"can't be combined"),
            (["-spiffeID", "nope"], r"invalid -spiffeID"),
            (["-selector", "nocolon"], r"invalid selector")]:
        s.refuses("entry", "show", *args, rc=2, match=match)
    s.refuses("entry", "delete", rc=2, match=r"^Error: -entryID is required")
    s.refuses("entry", "count", "-spiffeID", sid("w"), rc=2, match="not defined")
    s.refuses("entry", "frob", rc=2, match=r"unknown command")
    # Help goes to stdout with status 0.
    h = s.cli("entry", "create", "-h").ok()
    check("-spiffeID" in h.out and h.err == "", "entry create -h prints usage on stdout")
    eq(s.cli("entry", "count").ok().out, "0 registration entries\n", "nothing was created")


def test_refused_by_server(t):
    s = t.server()
    base = ["-selector", "unix:uid:1"]
    s.refuses("entry", "create", "-spiffeID", "spiffe://other.org/w", "-parentID", NODE, *base,
              match=r"^Error: failed to create entry for spiffe://other.org/w .*InvalidArgument"
                    r".*not in trust domain")
    s.refuses("entry", "create", "-spiffeID", sid("w"), "-parentID", "spiffe://other.org/n",
              *base, match=r"InvalidArgument.*trust domain")
    s.refuses("entry", "create", "-spiffeID", "spiffe://%s" % TD, "-parentID", NODE, *base,
              match=r"InvalidArgument")
    eq(s.cli("entry", "count").ok().out, "0 registration entries\n", "nothing was created")


def test_expiry_in_the_past_refused(t):
    s = t.server()
    base = ["-parentID", NODE, "-selector", "unix:uid:1"]
    past = str(int(time.time()) - 60)
    for when in (past, "1"):
        s.refuses("entry", "create", "-spiffeID", sid("old"), *base, "-entryExpiry", when,
                  match=r"^Error: failed to create entry for %s .*InvalidArgument.*"
                        r"expires_at %s is not in the future" % (sid("old"), when))
    data = {"entries": [{"spiffe_id": sid("old"), "parent_id": NODE, "expires_at": int(past),
                         "selectors": [{"type": "unix", "value": "uid:1"}]}]}
    s.refuses("entry", "create", "-data", t.write("old.json", json.dumps(data)),
              match=r"InvalidArgument.*expires_at")
    eq(s.cli("entry", "count").ok().out, "0 registration entries\n", "nothing was created")
    soon = str(int(time.time()) + 3600)
    eid = create(s, sid("new"), "unix:uid:1", extra=["-entryExpiry", soon])["Entry ID"]
    s.refuses("entry", "update", "-entryID", eid, "-spiffeID", sid("new"), *base,
              "-entryExpiry", past,
              match=r"^Error: failed to update entry %s: .*InvalidArgument.*expires_at" % eid)
    shown = blocks(s.cli("entry", "show", "-entryID", eid).ok())[1][0]
    eq(shown["Revision"], "0", "a refused update leaves the entry")
    check("Expiration time" in shown, "the entry keeps its expiry: %r" % shown)
    s.cli("entry", "update", "-entryID", eid, "-spiffeID", sid("new"), *base).ok()


def test_malformed_data(t):
    s = t.server()
    good = {"spiffe_id": sid("g"), "parent_id": NODE,
            "selectors": [{"type": "unix", "value": "uid:1"}]}

    def with_(**kw):
        e = dict(good)
        e.update(kw)
        return json.dumps({"entries": [good, e]})

    cases = [
        ('{"entries": [', r"invalid JSON"),
        ("not json", r"invalid JSON"),
        ("[]", r"."),
        ('{"entries": {}}', r"entries"),
        ('{"entries": [], "entries": []}', r"duplicate object key"),
        ('{"entries": [{"spiffe_id": "%s", "spiffe_id": "%s", "parent_id": "%s", '
         '"selectors": [{"type": "unix", "value": "uid:1"}]}]}' % (sid("d"), sid("d"), NODE),
         r"duplicate object key"),
        (with_(colour="red"), r"entries\[1\]\.colour: unknown key"),
        (with_(selectors=[]), r"entries\[1\]\.selectors"),
        (with_(selectors=[{"type": "Unix", "value": "uid:1"}]),
         r"entries\[1\]\.selectors: invalid selector 'Unix:uid:1'"),
        (with_(selectors=[{"type": "unix"}]), r"entries\[1\]\.selectors"),
        (with_(spiffe_id="example.org/x"), r"entries\[1\]\.spiffe_id"),
        (with_(spiffe_id=42), r"entries\[1\]\.spiffe_id"),
        (with_(parent_id="spiffe://a/../b"), r"entries\[1\]\.parent_id"),
        (with_(x509_svid_ttl=-1), r"entries\[1\]\.x509_svid_ttl"),
        (with_(x509_svid_ttl=2147483648), r"entries\[1\]\.x509_svid_ttl"),
        (with_(jwt_svid_ttl="1h"), r"entries\[1\]\.jwt_svid_ttl"),
        (with_(admin="yes"), r"entries\[1\]\.admin"),
        (with_(federates_with=["Bad TD"]), r"entries\[1\]\.federates_with"),
        (with_(dns_names="a.example.org"), r"entries\[1\]\.dns_names"),
        (with_(store_svid=True), r"entries\[1\]\.store_svid"),
    ]
    for text, match in cases:
        path = t.write("bad.json", text)
        s.refuses("entry", "create", "-data", path,
                      match=r"^Error: invalid -data file '%s': .*%s" % (path, match)
                      if match != "." else r"^Error: invalid -data file")
        # stdin the same
        s.refuses("entry", "create", "-data", "-", input=text, match=r"^Error: invalid -data")
    s.refuses("entry", "create", "-data", t.path("missing.json"), match=r"cannot read")
    eq(s.cli("entry", "count").ok().out, "0 registration entries\n",
       "a bad file creates nothing, not even its good entries")


if __name__ == "__main__":
    sigiltest.main()
