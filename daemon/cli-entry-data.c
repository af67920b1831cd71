/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Registration entries inside the CLI, with no I/O: -data files in, spire's
 * text and JSON layouts out.
 *
 * A -data file is operator input, parsed as strictly as the flags it stands
 * for: duplicate or unknown keys, wrong types, out-of-range TTLs, invalid
 * SPIFFE IDs, selectors or trust domains are rejected with a message that
 * names the entry and key, before anything is sent. The keys are those of
 * spire's entry JSON so that existing files keep working.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli-entry.h"
#include "json-util.h"
#include "sigil/spiffeid.h"

/* ---- building ---- */

AdminEntry *cli_entry_new(void) {
        AdminEntry *e = malloc(sizeof(*e));

        if (e)
                sigil__admin__v1__entry__init(e);
        return e;
}

AdminEntry *cli_entry_free(AdminEntry *e) {
        if (e)
                protobuf_c_message_free_unpacked(&e->base, NULL);
        return NULL;
}

int cli_entry_add_selector(AdminEntry *e, AdminSelector *s) {
        AdminSelector **l;

        l = reallocarray(e->selectors, e->n_selectors + 1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        e->selectors = l;
        l[e->n_selectors++] = s;
        return 0;
}

int cli_strings_push(char ***items, size_t *n, const char *s) {
        CliStrv v = { .items = *items, .n = *n };
        int r;

        r = cli_strv_push(&v, s);
        *items = v.items;       /* the array may have moved even when the copy failed */
        *n = v.n;
        return r;
}

int cli_entry_list_push(CliEntryList *l, AdminEntry *e) {
        AdminEntry **a;

        a = reallocarray(l->entries, l->n + 1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        l->entries = a;
        a[l->n++] = e;
        return 0;
}

void cli_entry_list_done(CliEntryList *l) {
        for (size_t i = 0; i < l->n; i++)
                cli_entry_free(l->entries[i]);
        free(l->entries);
        *l = (CliEntryList) {};
}

int cli_server_id(const char *spiffe_id, char **ret, SigilErr *reterr) {
        SigilSpiffeId id;
        SigilTrustDomain td;
        int r;

        r = sigil_spiffeid_from_string(spiffe_id, &id, reterr);
        if (r < 0)
                return r;
        sigil_spiffeid_trust_domain(&id, &td);
        if (asprintf(ret, "%s%s/sigil/server", SIGIL_SPIFFE_SCHEME, td.name) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- sorting ---- */

static int selector_cmp(const void *a, const void *b) {
        const AdminSelector *x = *(AdminSelector *const *) a, *y = *(AdminSelector *const *) b;
        int c = strcmp(x->type, y->type);

        return c != 0 ? c : strcmp(x->value, y->value);
}

static int entry_cmp(const void *a, const void *b) {
        const AdminEntry *x = *(AdminEntry *const *) a, *y = *(AdminEntry *const *) b;
        int c;

        c = strcmp(x->spiffe_id, y->spiffe_id);
        if (c == 0)
                c = strcmp(x->parent_id, y->parent_id);
        return c != 0 ? c : strcmp(x->id, y->id);
}

void cli_entries_sort(AdminEntry **entries, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (entries[i]->n_selectors > 1)
                        qsort(entries[i]->selectors, entries[i]->n_selectors,
                              sizeof(AdminSelector *), selector_cmp);
        if (n > 1)
                qsort(entries, n, sizeof(AdminEntry *), entry_cmp);
}

/* ---- output ---- */

json_t *cli_entry_to_json(const AdminEntry *e) {
        return json_pack("{s:o, s:o, s:o, s:o, s:i, s:o, s:b, s:b, s:o, s:o, s:o, s:i, s:o, s:o}",
                         "id", cli_json_string(e->id),
                         "spiffe_id", cli_json_spiffe_id(e->spiffe_id),
                         "parent_id", cli_json_spiffe_id(e->parent_id),
                         "selectors", cli_json_selectors(e->selectors, e->n_selectors),
                         "x509_svid_ttl", (int) e->x509_svid_ttl,
                         "federates_with", cli_json_strv(e->federates_with, e->n_federates_with),
                         "admin", (int) e->admin,
                         "downstream", (int) e->downstream,
                         "expires_at", cli_json_int64(e->expires_at),
                         "dns_names", cli_json_strv(e->dns_names, e->n_dns_names),
                         "revision_number", cli_json_int64(e->revision_number),
                         "jwt_svid_ttl", (int) e->jwt_svid_ttl,
                         "hint", cli_json_string(e->hint),
                         "created_at", cli_json_int64(e->created_at));
}

/* One "Label            : value" line; the server's text is printed on one line. */
static void print_field(FILE *f, const char *label, const char *value) {
        _cleanup_(freep) char *copy = strdup(value ? value : "");

        fprintf(f, "%-17s: %s\n", label, copy ? cli_sanitize(copy) : "");
}

static void print_ttl(FILE *f, const char *label, int32_t ttl) {
        char buf[16];

        (void) snprintf(buf, sizeof(buf), "%d", (int) ttl);
        print_field(f, label, ttl == 0 ? "default" : buf);
}

void cli_entry_print(FILE *f, const AdminEntry *e) {
        char buf[CLI_TIME_MAX + 2048];

        print_field(f, "Entry ID", e->id);
        print_field(f, "SPIFFE ID", e->spiffe_id);
        print_field(f, "Parent ID", e->parent_id);
        (void) snprintf(buf, sizeof(buf), "%lld", (long long) e->revision_number);
        print_field(f, "Revision", buf);
        print_ttl(f, "X509-SVID TTL", e->x509_svid_ttl);
        print_ttl(f, "JWT-SVID TTL", e->jwt_svid_ttl);
        for (size_t i = 0; i < e->n_selectors; i++) {
                (void) snprintf(buf, sizeof(buf), "%s:%s", e->selectors[i]->type,
                                e->selectors[i]->value);
                print_field(f, "Selector", buf);
        }
        for (size_t i = 0; i < e->n_dns_names; i++)
                print_field(f, "DNS name", e->dns_names[i]);
        for (size_t i = 0; i < e->n_federates_with; i++)
                print_field(f, "FederatesWith", e->federates_with[i]);
        if (e->admin)
                print_field(f, "Admin", "true");
        if (e->downstream)
                print_field(f, "Downstream", "true");
        if (e->expires_at != 0)
                print_field(f, "Expiration time", cli_format_time(e->expires_at, buf));
        if (!isempty(e->hint))
                print_field(f, "Hint", e->hint);
        fputc('\n', f);
}

/* ---- -data files ---- */

typedef struct FieldCtx {
        AdminEntry *e;
        const char *key;
        size_t index;           /* of the entry in the file */
        SigilErr *err;
        bool have_x509_ttl;
} FieldCtx;

/* "entries[<i>].<key>: <msg><detail>"; @detail may be c->err's own message */
static int field_error(FieldCtx *c, const char *msg, const char *detail) {
        char copy[SIGIL_ERR_MSG_MAX];

        (void) snprintf(copy, sizeof(copy), "%s", detail ? detail : "");
        return sigil_err_set(c->err, -EINVAL, "entries[%zu].%s: %s%s", c->index, c->key, msg,
                             copy);
}

static int field_string(FieldCtx *c, json_t *v, char **dst, bool non_empty) {
        char *s;

        if (!json_is_string(v))
                return field_error(c, "must be a string", NULL);
        if (strlen(json_string_value(v)) != json_string_length(v))
                return field_error(c, "must not contain NUL", NULL);
        if (non_empty && json_string_length(v) == 0)
                return field_error(c, "must not be empty", NULL);
        s = strdup(json_string_value(v));
        if (!s)
                return -ENOMEM;
        *dst = s;
        return 0;
}

static int field_id(FieldCtx *c, json_t *v) {
        return field_string(c, v, &c->e->id, true);
}

static int field_spiffe_id(FieldCtx *c, json_t *v, char **dst) {
        char what[96];
        int r;

        r = field_string(c, v, dst, true);
        if (r < 0)
                return r;
        (void) snprintf(what, sizeof(what), "entries[%zu].%s", c->index, c->key);
        return cli_check_spiffe_id(what, *dst, c->err);
}

static int field_spiffe(FieldCtx *c, json_t *v) {
        return field_spiffe_id(c, v, &c->e->spiffe_id);
}

static int field_parent(FieldCtx *c, json_t *v) {
        return field_spiffe_id(c, v, &c->e->parent_id);
}

static int field_hint(FieldCtx *c, json_t *v) {
        return field_string(c, v, &c->e->hint, false);
}

static int field_int(FieldCtx *c, json_t *v, int64_t max, int64_t *ret) {
        if (!json_is_integer(v))
                return field_error(c, "must be an integer", NULL);
        if (json_integer_value(v) < 0 || json_integer_value(v) > max)
                return field_error(c, "is out of range", NULL);
        *ret = json_integer_value(v);
        return 0;
}

static int field_x509_ttl(FieldCtx *c, json_t *v) {
        int64_t ttl = 0;
        int r;

        if (c->have_x509_ttl)
                return field_error(c, "x509_svid_ttl is given twice (once as \"ttl\")", NULL);
        c->have_x509_ttl = true;
        r = field_int(c, v, INT32_MAX, &ttl);
        if (r == 0)
                c->e->x509_svid_ttl = (int32_t) ttl;
        return r;
}

static int field_jwt_ttl(FieldCtx *c, json_t *v) {
        int64_t ttl = 0;
        int r;

        r = field_int(c, v, INT32_MAX, &ttl);
        if (r == 0)
                c->e->jwt_svid_ttl = (int32_t) ttl;
        return r;
}

static int field_expires_at(FieldCtx *c, json_t *v) {
        return field_int(c, v, INT64_MAX, &c->e->expires_at);
}

static int field_bool(FieldCtx *c, json_t *v, protobuf_c_boolean *dst) {
        if (!json_is_boolean(v))
                return field_error(c, "must be true or false", NULL);
        *dst = json_is_true(v);
        return 0;
}

static int field_admin(FieldCtx *c, json_t *v) {
        return field_bool(c, v, &c->e->admin);
}

static int field_downstream(FieldCtx *c, json_t *v) {
        return field_bool(c, v, &c->e->downstream);
}

static int field_store_svid(FieldCtx *c, json_t *v) {
        protobuf_c_boolean b = false;
        int r;

        r = field_bool(c, v, &b);
        if (r == 0 && b)
                return field_error(c, "is not supported by sigil", NULL);
        return r;
}

static int field_selectors(FieldCtx *c, json_t *v) {
        size_t i;
        json_t *s;

        if (!json_is_array(v) || json_array_size(v) == 0)
                return field_error(c, "must be a non-empty array of {\"type\", \"value\"}", NULL);
        json_array_foreach(v, i, s) {
                json_t *type = json_object_get(s, "type"), *value = json_object_get(s, "value");
                AdminSelector *sel = NULL;
                int r;

                if (!json_is_object(s) || json_object_size(s) != 2 || !json_is_string(type) ||
                    !json_is_string(value))
                        return field_error(c, "each selector must be {\"type\": \"...\", "
                                              "\"value\": \"...\"}", NULL);
                r = cli_selector_new(json_string_value(type), json_string_value(value), &sel,
                                     c->err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return field_error(c, "", c->err ? c->err->msg : "invalid selector");
                r = cli_entry_add_selector(c->e, sel);
                if (r < 0) {
                        protobuf_c_message_free_unpacked(&sel->base, NULL);
                        return r;
                }
        }
        return 0;
}

static int field_dns_names(FieldCtx *c, json_t *v) {
        size_t i;
        json_t *s;

        if (!json_is_array(v))
                return field_error(c, "must be an array of strings", NULL);
        json_array_foreach(v, i, s) {
                if (!json_is_string(s) || json_string_length(s) == 0 ||
                    strlen(json_string_value(s)) != json_string_length(s))
                        return field_error(c, "must be an array of non-empty strings", NULL);
                if (cli_strings_push(&c->e->dns_names, &c->e->n_dns_names,
                                     json_string_value(s)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int field_federates_with(FieldCtx *c, json_t *v) {
        size_t i;
        json_t *s;

        if (!json_is_array(v))
                return field_error(c, "must be an array of trust domains", NULL);
        json_array_foreach(v, i, s) {
                _cleanup_(freep) char *td = NULL;
                int r;

                if (!json_is_string(s))
                        return field_error(c, "must be an array of trust domains", NULL);
                r = cli_parse_trust_domain(json_string_value(s), &td, c->err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return field_error(c, "", c->err ? c->err->msg : "invalid trust domain");
                if (cli_strings_push(&c->e->federates_with, &c->e->n_federates_with, td) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static const struct {
        const char *key;
        int (*parse)(FieldCtx *c, json_t *v);
} entry_fields[] = {
        { "entry_id", field_id },
        { "spiffe_id", field_spiffe },
        { "parent_id", field_parent },
        { "selectors", field_selectors },
        { "x509_svid_ttl", field_x509_ttl },
        { "ttl", field_x509_ttl },
        { "jwt_svid_ttl", field_jwt_ttl },
        { "dns_names", field_dns_names },
        { "federates_with", field_federates_with },
        { "admin", field_admin },
        { "downstream", field_downstream },
        { "expires_at", field_expires_at },
        { "hint", field_hint },
        { "store_svid", field_store_svid },
};

static int entry_field(FieldCtx *c, const char *key, json_t *v) {
        c->key = key;
        for (size_t i = 0; i < ELEMENTSOF(entry_fields); i++)
                if (streq(key, entry_fields[i].key))
                        return entry_fields[i].parse(c, v);
        return field_error(c, "unknown key", NULL);
}

static int entry_from_json(json_t *o, size_t index, bool need_id, AdminEntry **ret,
                           SigilErr *reterr) {
        _cleanup_(cli_entry_freep) AdminEntry *e = cli_entry_new();
        FieldCtx c = { .e = e, .index = index, .err = reterr };
        const char *key;
        json_t *v;
        int r;

        if (!e)
                return -ENOMEM;
        if (!json_is_object(o))
                return sigil_err_set(reterr, -EINVAL, "entries[%zu]: must be an object", index);
        json_object_foreach(o, key, v) {
                r = entry_field(&c, key, v);
                if (r < 0)
                        return r;
        }
        if (need_id && isempty(e->id))
                return sigil_err_set(reterr, -EINVAL, "entries[%zu]: entry_id is required", index);
        if (isempty(e->spiffe_id) || isempty(e->parent_id) || e->n_selectors == 0)
                return sigil_err_set(reterr, -EINVAL, "entries[%zu]: %s is required", index,
                                     isempty(e->spiffe_id) ? "spiffe_id" :
                                     isempty(e->parent_id) ? "parent_id" : "selectors");
        *ret = TAKE_PTR(e);
        return 0;
}

int cli_entries_from_json(const char *json, size_t n_json, bool need_id, CliEntryList *ret,
                          SigilErr *reterr) {
        _cleanup_(cli_entry_list_done) CliEntryList list = {};
        _cleanup_(json_decrefp) json_t *root = NULL;
        json_error_t jerr;
        json_t *entries, *o;
        size_t i;
        int r;

        root = json_loadb(json, n_json, SIGIL_JSON_DECODE_FLAGS, &jerr);
        if (!root)
                return sigil_err_set(reterr, -EINVAL, "invalid JSON at line %d, column %d: %s",
                                     jerr.line, jerr.column, jerr.text);
        entries = json_object_get(root, "entries");
        if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(entries))
                return sigil_err_set(reterr, -EINVAL,
                                     "expected an object with one key, \"entries\": [...]");
        if (json_array_size(entries) == 0)
                return sigil_err_set(reterr, -EINVAL, "\"entries\" is empty");
        if (json_array_size(entries) > CLI_ENTRY_DATA_ENTRIES_MAX)
                return sigil_err_set(reterr, -EINVAL, "more than %d entries",
                                     CLI_ENTRY_DATA_ENTRIES_MAX);
        json_array_foreach(entries, i, o) {
                AdminEntry *e = NULL;

                r = entry_from_json(o, i, need_id, &e, reterr);
                if (r < 0)
                        return r;
                r = cli_entry_list_push(&list, e);
                if (r < 0) {
                        cli_entry_free(e);
                        return r;
                }
        }
        *ret = list;
        list = (CliEntryList) {};
        return 0;
}
