/* SPDX-License-Identifier: Apache-2.0 */
/*
 * EntryAPI: registration entries. Proto messages are converted to Entry at
 * this boundary and validated (entry_validate) before the datastore sees
 * them; every change is audited with the caller's uid.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

#include "admin-api.h"
#include "sigil/clock.h"
#include "sigil/log.h"

static char *dup_or_null(const char *s) {
        return isempty(s) ? NULL : strdup(s);
}

static int strv_from_proto(char **in, size_t n, size_t max, char ***ret) {
        char **l;

        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        if (n > max)
                return -E2BIG;
        l = new0(char *, n + 1);
        if (!l)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                l[i] = strdup(in[i]);
                if (!l[i]) {
                        strv_free(l);
                        return -ENOMEM;
                }
        }
        *ret = l;
        return 0;
}

int admin_entry_from_proto(const Sigil__Admin__V1__Entry *p, Entry **ret, SigilErr *reterr) {
        _cleanup_(entry_freep) Entry *e = entry_new();
        int r;

        if (!e)
                return -ENOMEM;
        e->id = dup_or_null(p->id);
        e->spiffe_id = strdup(p->spiffe_id ? p->spiffe_id : "");
        e->parent_id = strdup(p->parent_id ? p->parent_id : "");
        e->hint = dup_or_null(p->hint);
        if (!e->spiffe_id || !e->parent_id)
                return -ENOMEM;
        if (p->n_selectors > SIGIL_SELECTOR_SET_MAX)
                return sigil_err_set(reterr, -EINVAL, "too many selectors");
        for (size_t i = 0; i < p->n_selectors; i++) {
                r = sigil_selector_set_add(&e->selectors, p->selectors[i]->type ?: "",
                                           p->selectors[i]->value ?: "", reterr);
                if (r < 0)
                        return sigil_err_prefix(reterr, r, "selector %zu", i);
        }
        r = strv_from_proto(p->dns_names, p->n_dns_names, ENTRY_DNS_NAMES_MAX, &e->dns_names);
        if (r == 0)
                r = strv_from_proto(p->federates_with, p->n_federates_with,
                                    ENTRY_FEDERATES_WITH_MAX, &e->federates_with);
        if (r == -E2BIG)
                return sigil_err_set(reterr, -EINVAL, "too many DNS names or federated domains");
        if (r < 0)
                return r;
        e->x509_svid_ttl = p->x509_svid_ttl;
        e->jwt_svid_ttl = p->jwt_svid_ttl;
        e->admin = p->admin;
        e->downstream = p->downstream;
        e->expires_at = p->expires_at;
        e->revision_number = p->revision_number;
        *ret = TAKE_PTR(e);
        return 0;
}

void admin_entry_proto_free(Sigil__Admin__V1__Entry *p) {
        if (!p)
                return;
        if (p->selectors) {
                free(p->selectors[0]);  /* one block holds every selector message */
                free(p->selectors);
        }
        free(p);
}

/* The proto view of @e; strings are borrowed from @e, which must outlive it. */
int admin_entry_to_proto(const Entry *e, Sigil__Admin__V1__Entry **ret) {
        Sigil__Admin__V1__Entry *p = new0(Sigil__Admin__V1__Entry, 1);
        Sigil__Admin__V1__Selector *sels;
        size_t n = e->selectors.n_items;

        if (!p)
                return -ENOMEM;
        sigil__admin__v1__entry__init(p);
        p->id = e->id;
        p->spiffe_id = e->spiffe_id;
        p->parent_id = e->parent_id;
        p->x509_svid_ttl = e->x509_svid_ttl;
        p->jwt_svid_ttl = e->jwt_svid_ttl;
        p->dns_names = e->dns_names;
        p->n_dns_names = strv_length(e->dns_names);
        p->federates_with = e->federates_with;
        p->n_federates_with = strv_length(e->federates_with);
        p->admin = e->admin;
        p->downstream = e->downstream;
        p->expires_at = e->expires_at;
        p->hint = e->hint ? e->hint : (char *) "";
        p->revision_number = e->revision_number;
        p->created_at = e->created_at;
        if (n > 0) {
                sels = new0(Sigil__Admin__V1__Selector, n);
                p->selectors = new0(Sigil__Admin__V1__Selector *, n);
                if (!sels || !p->selectors) {
                        free(sels);
                        free(p->selectors);
                        free(p);
                        return -ENOMEM;
                }
                for (size_t i = 0; i < n; i++) {
                        sigil__admin__v1__selector__init(&sels[i]);
                        sels[i].type = e->selectors.items[i].type;
                        sels[i].value = e->selectors.items[i].value;
                        p->selectors[i] = &sels[i];
                }
                p->n_selectors = n;
        }
        *ret = p;
        return 0;
}

static void count_entries(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        Sigil__Admin__V1__CountEntriesResponse resp = SIGIL__ADMIN__V1__COUNT_ENTRIES_RESPONSE__INIT;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        int r;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        r = ds_entry_count(s->ds, &resp.count);
        if (r != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(r), "cannot count entries");
                return;
        }
        (void) rpc_call_reply(call, &resp.base);
}

static void get_entry(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__GetEntryRequest *r = (const void *) req;
        _cleanup_(entry_freep) Entry *e = NULL;
        Sigil__Admin__V1__Entry *p = NULL;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (isempty(r->id)) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "missing entry ID");
                return;
        }
        k = ds_entry_get(s->ds, r->id, &e);
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "entry '%s': %s", r->id,
                                       k == DS_E_NOT_FOUND ? "not found" : "datastore error");
                return;
        }
        if (admin_entry_to_proto(e, &p) < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "out of memory");
                return;
        }
        (void) rpc_call_reply(call, &p->base);
        admin_entry_proto_free(p);
}

static int filter_from_proto(const Sigil__Admin__V1__ListEntriesRequest *r, EntryFilter *f,
                             SigilSelectorSet *sels, SigilErr *reterr) {
        int k;

        *f = (EntryFilter) {
                .spiffe_id = isempty(r->by_spiffe_id) ? NULL : r->by_spiffe_id,
                .parent_id = isempty(r->by_parent_id) ? NULL : r->by_parent_id,
                .federates_with = isempty(r->by_federates_with) ? NULL : r->by_federates_with,
                .hint = isempty(r->by_hint) ? NULL : r->by_hint,
        };
        if (!r->by_selectors || r->by_selectors->n_selectors == 0)
                return 0;
        if ((int) r->by_selectors->match < 0 || (int) r->by_selectors->match >= (int) _SELECTOR_MATCH_MAX)
                return sigil_err_set(reterr, -EINVAL, "unknown selector match mode");
        for (size_t i = 0; i < r->by_selectors->n_selectors; i++) {
                k = sigil_selector_set_add(sels, r->by_selectors->selectors[i]->type ?: "",
                                           r->by_selectors->selectors[i]->value ?: "", reterr);
                if (k < 0)
                        return k;
        }
        f->selectors = sels;
        f->match = (SelectorMatch) r->by_selectors->match;
        return 0;
}

static void list_entries_reply(RpcCall *call, EntryList *l, char *next) {
        Sigil__Admin__V1__ListEntriesResponse resp = SIGIL__ADMIN__V1__LIST_ENTRIES_RESPONSE__INIT;
        Sigil__Admin__V1__Entry **items = new0(Sigil__Admin__V1__Entry *, l->n_entries);
        int r = items ? 0 : -ENOMEM;

        for (size_t i = 0; r == 0 && i < l->n_entries; i++)
                r = admin_entry_to_proto(l->entries[i], &items[i]);
        if (r < 0)
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "out of memory");
        else {
                resp.entries = items;
                resp.n_entries = l->n_entries;
                resp.next_page_token = next ? next : (char *) "";
                (void) rpc_call_reply(call, &resp.base);
        }
        for (size_t i = 0; items && i < l->n_entries; i++)
                admin_entry_proto_free(items[i]);
        free(items);
}

static void list_entries(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__ListEntriesRequest *r = (const void *) req;
        _cleanup_(sigil_selector_set_done) SigilSelectorSet sels = {};
        _cleanup_(freep) char *next = NULL;
        EntryList l = {};
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        size_t page_size;
        SigilErr err = {};
        EntryFilter f;
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (!admin_page_size(call, r->page_size, &page_size))
                return;
        if (filter_from_proto(r, &f, &sels, &err) < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
                return;
        }
        k = ds_entry_list(s->ds, &f, r->page_token, page_size, &l, &next);
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k),
                                       k == -EINVAL ? "invalid page token" : "cannot list entries");
                return;
        }
        list_entries_reply(call, &l, next);
        entry_list_done(&l);
}

/* The result of one entry of a batch; @e may be NULL. */
static Sigil__Admin__V1__Status *status_new(int r, const char *msg) {
        Sigil__Admin__V1__Status *st = new0(Sigil__Admin__V1__Status, 1);

        if (!st)
                return NULL;
        sigil__admin__v1__status__init(st);
        st->code = (int32_t) admin_status_from_error(r);
        st->message = strdup(msg ? msg : "OK");
        if (!st->message) {
                free(st);
                return NULL;
        }
        return st;
}

static void status_free(Sigil__Admin__V1__Status *st) {
        if (st)
                free(st->message);
        free(st);
}

typedef struct BatchItem {
        Entry *entry;                   /* stored entry on success */
        Sigil__Admin__V1__Status *status;
        Sigil__Admin__V1__Entry *proto;
        char id[ENTRY_ID_LEN + 1];      /* delete results */
} BatchItem;

static void batch_free(BatchItem *items, size_t n) {
        for (size_t i = 0; items && i < n; i++) {
                entry_free(items[i].entry);
                status_free(items[i].status);
                admin_entry_proto_free(items[i].proto);
        }
        free(items);
}

static int create_one(Server *s, const char *caller, const Sigil__Admin__V1__Entry *p,
                      Entry **ret, SigilErr *err) {
        _cleanup_(entry_freep) Entry *e = NULL;
        char id[ENTRY_ID_LEN + 1];
        int r;

        r = admin_entry_from_proto(p, &e, err);
        if (r < 0)
                return r;
        if (e->id && !entry_id_is_valid(e->id))
                return sigil_err_set(err, -EINVAL, "invalid entry ID '%s'", e->id);
        if (!e->id) {
                r = entry_id_generate(id);
                if (r < 0)
                        return r;
                e->id = strdup(id);
                if (!e->id)
                        return -ENOMEM;
        }
        e->created_at = (int64_t) sigil_now_sec();
        e->revision_number = 0;
        r = entry_validate(e, s->cfg->trust_domain, err);
        if (r == 0)
                r = entry_check_not_expired(e, sigil_now_sec(), err);
        if (r < 0)
                return r;
        r = ds_entry_create(s->ds, e);
        if (r == DS_E_EXISTS)
                return sigil_err_set(err, DS_E_EXISTS,
                                     "similar entry already exists (same SPIFFE ID, parent ID "
                                     "and selectors, or same entry ID)");
        if (r != 0)
                return sigil_err_set(err, r, "datastore error");
        r = registry_put(s->registry, e);
        if (r < 0)
                log_error("entry '%s' stored but not in the registry: %s; restart the server",
                          e->id, strerror(-r));
        *ret = TAKE_PTR(e);
        return 0;
}

static int update_one(Server *s, const char *caller, const Sigil__Admin__V1__Entry *p,
                      Entry **ret, SigilErr *err) {
        _cleanup_(entry_freep) Entry *e = NULL;
        int r;

        r = admin_entry_from_proto(p, &e, err);
        if (r < 0)
                return r;
        if (!e->id || !entry_id_is_valid(e->id))
                return sigil_err_set(err, -EINVAL, "missing or invalid entry ID");
        r = entry_validate(e, s->cfg->trust_domain, err);
        if (r == 0)
                r = entry_check_not_expired(e, sigil_now_sec(), err);
        if (r < 0)
                return r;
        r = ds_entry_update(s->ds, e, ret);
        if (r == DS_E_NOT_FOUND)
                return sigil_err_set(err, r, "entry '%s' not found", e->id);
        if (r == DS_E_EXISTS)
                return sigil_err_set(err, r, "a similar entry already exists");
        if (r != 0)
                return sigil_err_set(err, r, "datastore error");
        r = registry_put(s->registry, *ret);
        if (r < 0)
                log_error("entry '%s' updated but not in the registry: %s; restart the server",
                          e->id, strerror(-r));
        return 0;
}

/* One audit line per entry of a batch: a one-word result, and the reason of a failure. */
static void audit_entry(const char *caller, const char *action, const char *id,
                        const char *spiffe_id, int k, const char *reason) {
        const char *result = admin_audit_result(k);

        if (isempty(reason))
                reason = k == 0 ? "" : "internal error";
        if (spiffe_id && k == 0)
                sigil_audit(caller, action, id, result, "spiffe_id='%s'", spiffe_id);
        else if (spiffe_id)
                sigil_audit(caller, action, id, result, "spiffe_id='%s' reason='%s'", spiffe_id,
                            reason);
        else
                sigil_audit(caller, action, id, result, k == 0 ? NULL : "reason='%s'", reason);
}

typedef int (*BatchOp)(Server *s, const char *caller, const Sigil__Admin__V1__Entry *p,
                       Entry **ret, SigilErr *err);

/* Run @op on each entry of a create/update batch and reply with per-entry results. */
static void batch_entries(RpcCall *call, Server *s, Sigil__Admin__V1__Entry **in, size_t n,
                          BatchOp op, const char *action) {
        Sigil__Admin__V1__BatchCreateEntryResponse resp =
                SIGIL__ADMIN__V1__BATCH_CREATE_ENTRY_RESPONSE__INIT;
        Sigil__Admin__V1__BatchCreateEntryResponse__Result *res = NULL, **resp_ptrs = NULL;
        char caller[ADMIN_CALLER_MAX];
        BatchItem *items = NULL;
        int r = 0;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (n > ADMIN_BATCH_MAX) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "at most %d entries per batch", ADMIN_BATCH_MAX);
                return;
        }
        items = new0(BatchItem, n);
        res = new0(Sigil__Admin__V1__BatchCreateEntryResponse__Result, n);
        resp_ptrs = new0(Sigil__Admin__V1__BatchCreateEntryResponse__Result *, n);
        if (!items || !res || !resp_ptrs)
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < n; i++) {
                SigilErr err = {};
                int k = op(s, caller, in[i], &items[i].entry, &err);

                audit_entry(caller, action,
                            items[i].entry ? items[i].entry->id :
                            !isempty(in[i]->id) ? in[i]->id : in[i]->spiffe_id,
                            in[i]->spiffe_id, k, err.msg);
                items[i].status = status_new(k, k == 0 ? NULL : err.msg);
                if (!items[i].status ||
                    (k == 0 && admin_entry_to_proto(items[i].entry, &items[i].proto) < 0))
                        r = -ENOMEM;
                sigil__admin__v1__batch_create_entry_response__result__init(&res[i]);
                res[i].status = items[i].status;
                res[i].entry = items[i].proto;
                resp_ptrs[i] = &res[i];
        }
        if (r < 0)
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "out of memory");
        else {
                resp.results = resp_ptrs;
                resp.n_results = n;
                (void) rpc_call_reply(call, &resp.base);
        }
        batch_free(items, n);
        free(res);
        free(resp_ptrs);
}

static void batch_create(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__BatchCreateEntryRequest *r = (const void *) req;

        batch_entries(call, userdata, r->entries, r->n_entries, create_one, "entry.create");
}

/* BatchUpdateEntryResponse has the same shape as BatchCreateEntryResponse on the wire. */
static void batch_update(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__BatchUpdateEntryRequest *r = (const void *) req;

        batch_entries(call, userdata, r->entries, r->n_entries, update_one, "entry.update");
}

static void batch_delete(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__BatchDeleteEntryRequest *r = (const void *) req;
        Sigil__Admin__V1__BatchDeleteEntryResponse resp =
                SIGIL__ADMIN__V1__BATCH_DELETE_ENTRY_RESPONSE__INIT;
        Sigil__Admin__V1__BatchDeleteEntryResponse__Result *res = NULL, **ptrs = NULL;
        Sigil__Admin__V1__Status **statuses = NULL;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        int fail = 0;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (r->n_ids > ADMIN_BATCH_MAX) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "at most %d entries per batch", ADMIN_BATCH_MAX);
                return;
        }
        res = new0(Sigil__Admin__V1__BatchDeleteEntryResponse__Result, r->n_ids);
        ptrs = new0(Sigil__Admin__V1__BatchDeleteEntryResponse__Result *, r->n_ids);
        statuses = new0(Sigil__Admin__V1__Status *, r->n_ids);
        fail = !res || !ptrs || !statuses;
        for (size_t i = 0; !fail && i < r->n_ids; i++) {
                int k = isempty(r->ids[i]) ? -EINVAL : ds_entry_delete(s->ds, r->ids[i], NULL);

                if (k == 0)
                        (void) registry_remove(s->registry, r->ids[i]);
                const char *msg = k == 0 ? NULL : k == DS_E_NOT_FOUND ? "entry not found" :
                                  k == -EINVAL ? "missing entry ID" : "datastore error";

                audit_entry(caller, "entry.delete", r->ids[i], NULL, k, msg);
                statuses[i] = status_new(k, msg);
                fail = !statuses[i];
                sigil__admin__v1__batch_delete_entry_response__result__init(&res[i]);
                res[i].status = statuses[i];
                res[i].id = r->ids[i];
                ptrs[i] = &res[i];
        }
        if (fail)
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "out of memory");
        else {
                resp.results = ptrs;
                resp.n_results = r->n_ids;
                (void) rpc_call_reply(call, &resp.base);
        }
        for (size_t i = 0; statuses && i < r->n_ids; i++)
                status_free(statuses[i]);
        free(statuses);
        free(res);
        free(ptrs);
}

const RpcMethod admin_entry_methods[] = {
        { "/sigil.admin.v1.EntryAPI/CountEntries", RPC_UNARY,
          &sigil__admin__v1__count_entries_request__descriptor, count_entries, 0 },
        { "/sigil.admin.v1.EntryAPI/ListEntries", RPC_UNARY,
          &sigil__admin__v1__list_entries_request__descriptor, list_entries, 0 },
        { "/sigil.admin.v1.EntryAPI/GetEntry", RPC_UNARY,
          &sigil__admin__v1__get_entry_request__descriptor, get_entry, 0 },
        { "/sigil.admin.v1.EntryAPI/BatchCreateEntry", RPC_UNARY,
          &sigil__admin__v1__batch_create_entry_request__descriptor, batch_create,
          16u * 1024u * 1024u },
        { "/sigil.admin.v1.EntryAPI/BatchUpdateEntry", RPC_UNARY,
          &sigil__admin__v1__batch_update_entry_request__descriptor, batch_update,
          16u * 1024u * 1024u },
        { "/sigil.admin.v1.EntryAPI/BatchDeleteEntry", RPC_UNARY,
          &sigil__admin__v1__batch_delete_entry_request__descriptor, batch_delete, 0 },
};
const size_t admin_entry_n_methods = ELEMENTSOF(admin_entry_methods);
