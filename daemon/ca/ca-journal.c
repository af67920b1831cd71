/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The disk key manager: each slot's private key in its own PEM file (0600)
 * and a journal (journal.json, 0600) naming the slots, their status, times
 * and certificates. Keys are written before the journal that names them,
 * both atomically, so a crash leaves either the old state or the new one.
 * On load every slot is checked: trust domain, key matching certificate,
 * not expired; anything that fails is dropped with a warning, never trusted.
 * A slot's created_at (its rotation schedule counts from there) came later
 * than version 1: a record without it was made CA_BACKDATE_SEC after its
 * notBefore (X.509) or at it (JWT).
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ca-internal.h"
#include "fileio.h"
#include "json-util.h"
#include "sigil/log.h"
#include "ssl-util.h"

#define JOURNAL_NAME "journal.json"
#define JOURNAL_VERSION 1
#define JOURNAL_MAX (4u * 1024u * 1024u)

static void slot_key_path(const Ca *ca, const CaSlot *s, char *buf, size_t n) {
        (void) snprintf(buf, n, "%s/%s-%s.key.pem", ca->cfg.keys_dir,
                        s->kind == CA_SLOT_X509 ? "x509" : "jwt", s->id);
}

static json_t *slot_to_json(const CaSlot *s) {
        _cleanup_(freep) char *pem = NULL;
        json_t *o;

        o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "kind",
                      s->kind == CA_SLOT_X509 ? "x509" : "jwt", "id", s->id, "status",
                      ca_slot_status_to_string(s->status), "not_before", (json_int_t) s->not_before,
                      "not_after", (json_int_t) s->not_after, "created_at",
                      (json_int_t) s->created_at);
        if (!o)
                return NULL;
        if (s->cert) {
                if (sigil_x509_to_pem(s->cert, &pem) < 0 ||
                    json_object_set_new(o, "certificate", json_string(pem)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        }
        return o;
}

/* Remove key files no slot names any more (retired slots). */
static void remove_stale_keys(Ca *ca) {
        DIR *d = opendir(ca->cfg.keys_dir);
        struct dirent *de;

        if (!d)
                return;
        while ((de = readdir(d))) {
                char path[4096];
                bool used = false;

                if (!strstr(de->d_name, ".key.pem"))
                        continue;
                for (size_t i = 0; i < ca->n_slots; i++) {
                        char p[4096];

                        slot_key_path(ca, &ca->slots[i], p, sizeof(p));
                        if (streq(strrchr(p, '/') + 1, de->d_name))
                                used = true;
                }
                if (used)
                        continue;
                (void) snprintf(path, sizeof(path), "%s/%s", ca->cfg.keys_dir, de->d_name);
                if (unlink(path) == 0)
                        log_debug("removed retired key file '%s'", path);
        }
        closedir(d);
}

int ca_journal_save(Ca *ca, SigilErr *reterr) {
        _cleanup_(json_decrefp) json_t *root = NULL, *slots = NULL;
        _cleanup_(freep) char *text = NULL;
        char path[4096];
        int r;

        r = mkdir_p(ca->cfg.keys_dir, 0700);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot create '%s': %s", ca->cfg.keys_dir,
                                     strerror(-r));
        slots = json_array();
        if (!slots)
                return -ENOMEM;
        for (size_t i = 0; i < ca->n_slots; i++) {
                CaSlot *s = &ca->slots[i];
                struct stat st;

                slot_key_path(ca, s, path, sizeof(path));
                if (stat(path, &st) < 0) {
                        r = sigil_key_store_pem(path, s->key);
                        if (r < 0)
                                return sigil_err_set(reterr, r, "cannot write '%s': %s", path,
                                                     strerror(-r));
                }
                if (json_array_append_new(slots, slot_to_json(s)) < 0)
                        return -ENOMEM;
        }
        root = json_pack("{s:i, s:s, s:O}", "version", JOURNAL_VERSION, "trust_domain",
                         ca->cfg.trust_domain, "slots", slots);
        if (!root)
                return -ENOMEM;
        text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (!text)
                return -ENOMEM;
        (void) snprintf(path, sizeof(path), "%s/%s", ca->cfg.keys_dir, JOURNAL_NAME);
        r = write_file_atomic(path, text, strlen(text), 0600);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot write '%s': %s", path, strerror(-r));
        remove_stale_keys(ca);
        return 0;
}

/* @created: the record's created_at, or -1 when it has none (a journal of an older sigil). */
static int slot_set_created_at(CaSlot *s, json_int_t created) {
        if (created < 0) {
                uint64_t backdate = s->kind == CA_SLOT_X509 ? CA_BACKDATE_SEC : 0;

                s->created_at = MIN(s->not_before + backdate, s->not_after - 1);
                return 0;
        }
        if ((uint64_t) created < s->not_before || (uint64_t) created >= s->not_after)
                return -EINVAL;
        s->created_at = (uint64_t) created;
        return 0;
}

/* Load one slot from its journal record; a slot that fails a check is skipped. */
static int slot_from_json(Ca *ca, json_t *o, uint64_t now, CaSlot *ret) {
        const char *kind = NULL, *id = NULL, *status = NULL, *cert_pem = NULL;
        json_int_t nb = 0, na = 0, created = -1;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        SigilSpiffeId cert_id;
        CaSlot s = {};
        char path[4096];
        SigilErr err = {};
        int r;

        if (json_unpack(o, "{s:s, s:s, s:s, s:I, s:I, s?I, s?s}", "kind", &kind, "id", &id,
                        "status", &status, "not_before", &nb, "not_after", &na, "created_at",
                        &created, "certificate", &cert_pem) < 0 ||
            strlen(id) >= sizeof(s.id) || nb < 0 || na <= nb ||
            (json_object_get(o, "created_at") && created < 0))
                return log_warning_errno(-EINVAL, "CA journal: malformed slot record, skipped");
        s.kind = streq(kind, "x509") ? CA_SLOT_X509 : CA_SLOT_JWT;
        if (!streq(kind, "x509") && !streq(kind, "jwt"))
                return log_warning_errno(-EINVAL, "CA journal: unknown slot kind '%s'", kind);
        s.status = ca_slot_status_from_string(status);
        if (s.status < 0)
                return log_warning_errno(-EINVAL, "CA journal: bad status of slot '%s'", id);
        memcpy(s.id, id, strlen(id) + 1);
        s.not_before = (uint64_t) nb;
        s.not_after = (uint64_t) na;
        r = slot_set_created_at(&s, created);
        if (r < 0)
                return log_warning_errno(r, "CA journal: slot '%s' made outside its validity, "
                                            "skipped", id);
        if (s.not_after <= now)
                return log_info_errno(-ESTALE, "CA slot '%s' expired while down, dropped", id);

        slot_key_path(ca, &s, path, sizeof(path));
        if (sigil_key_load_pem(path, &key, &err) < 0)
                return log_warning_errno(-EINVAL, "CA slot '%s': %s", id, err.msg);
        if (s.kind == CA_SLOT_X509) {
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;

                if (!cert_pem || sigil_x509_from_pem(cert_pem, strlen(cert_pem), &cert, &err) < 0)
                        return log_warning_errno(-EINVAL, "CA slot '%s': bad certificate", id);
                pub = X509_get_pubkey(cert);
                if (!pub || EVP_PKEY_eq(pub, key) != 1)
                        return log_warning_errno(-EINVAL,
                                                 "CA slot '%s': key does not match certificate",
                                                 id);
                if (sigil_x509_not_after(cert) != s.not_after)
                        return log_warning_errno(-EINVAL, "CA slot '%s': times disagree", id);
                r = sigil_x509_spiffe_id(cert, &cert_id, &err);
                if (r < 0 || !sigil_spiffeid_is_root(&cert_id) ||
                    !sigil_spiffeid_member_of(&cert_id, ca->cfg.trust_domain))
                        return log_warning_errno(-EINVAL,
                                                 "CA slot '%s': certificate is not a CA of '%s'",
                                                 id, ca->cfg.trust_domain);
                if (ca->upstream_roots && ca_upstream_verify(ca, cert, now, &err) < 0)
                        return log_warning_errno(-EINVAL, "CA slot '%s': %s", id, err.msg);
        }
        s.key = TAKE_PTR(key);
        s.cert = TAKE_PTR(cert);
        *ret = s;
        return 0;
}

/*
 * A journal edited by hand (or by an attacker with the keys directory) could
 * name two active or prepared slots of a kind: keep the newest of each and
 * demote the rest to old.
 */
static void normalize_statuses(Ca *ca) {
        for (size_t i = 0; i < ca->n_slots; i++)
                for (size_t k = 0; k < ca->n_slots; k++) {
                        CaSlot *a = &ca->slots[i], *b = &ca->slots[k];

                        if (i == k || a->kind != b->kind || a->status != b->status ||
                            a->status == CA_SLOT_OLD)
                                continue;
                        if (a->created_at < b->created_at ||
                            (a->created_at == b->created_at && i < k))
                                a->status = CA_SLOT_OLD;
                }
}

int ca_journal_load(Ca *ca, uint64_t now, SigilErr *reterr) {
        _cleanup_(freep) char *text = NULL;
        _cleanup_(json_decrefp) json_t *root = NULL;
        const char *td = NULL;
        json_t *slots, *o;
        json_error_t jerr;
        char path[4096];
        int version = 0;
        size_t i, n;
        int r;

        (void) snprintf(path, sizeof(path), "%s/%s", ca->cfg.keys_dir, JOURNAL_NAME);
        r = read_full_file(path, JOURNAL_MAX, &text, &n);
        if (r == -ENOENT)
                return 0;       /* first start */
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read '%s': %s", path, strerror(-r));
        root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
        if (!root || json_unpack(root, "{s:i, s:s, s:o}", "version", &version, "trust_domain",
                                 &td, "slots", &slots) < 0 ||
            !json_is_array(slots))
                return sigil_err_set(reterr, -EINVAL, "'%s' is not a valid CA journal", path);
        if (version != JOURNAL_VERSION)
                return sigil_err_set(reterr, -EINVAL, "'%s': unsupported journal version %d",
                                     path, version);
        if (!streq(td, ca->cfg.trust_domain))
                return sigil_err_set(reterr, -EINVAL,
                                     "'%s' belongs to trust domain '%s', not '%s'", path, td,
                                     ca->cfg.trust_domain);
        json_array_foreach(slots, i, o) {
                CaSlot s;

                if (ca->n_slots >= CA_SLOTS_MAX)
                        break;
                if (slot_from_json(ca, o, now, &s) < 0)
                        continue;
                ca->slots[ca->n_slots++] = s;
        }
        normalize_statuses(ca);
        log_info("loaded %zu CA slot(s) from '%s'", ca->n_slots, path);
        return 0;
}
