/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The CA manager's life cycle: loading or creating slots, the rotation
 * schedule (prepare at 1/2, activate at 5/6 of the active slot's life from
 * when it was made, drop at notAfter), and the bundle built from every live
 * slot. See ca.h for the model.
 *
 * Invariants (under ca->lock): at most one active and one prepared slot of
 * each kind; every slot in the array is unexpired after ca_tick(); the
 * journal on disk matches the array after every change.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ca-internal.h"
#include "sigil/log.h"
#include "ssl-util.h"

static const char *const slot_status_names[_CA_SLOT_STATUS_MAX] = {
        [CA_SLOT_PREPARED] = "prepared",
        [CA_SLOT_ACTIVE] = "active",
        [CA_SLOT_OLD] = "old",
};

const char *ca_slot_status_to_string(CaSlotStatus s) {
        return s >= 0 && s < _CA_SLOT_STATUS_MAX ? slot_status_names[s] : NULL;
}

CaSlotStatus ca_slot_status_from_string(const char *s) {
        for (int i = 0; s && i < _CA_SLOT_STATUS_MAX; i++)
                if (streq(s, slot_status_names[i]))
                        return (CaSlotStatus) i;
        return _CA_SLOT_STATUS_INVALID;
}

/**
 * ca_slot_lifetime_point() - the time at @num/@den of a slot's life
 * @slot:       the slot
 * @num:        numerator
 * @den:        denominator, not 0
 *
 * The life counts from when the slot was made, not from its notBefore: that
 * is backdated for clock skew and would bring every rotation early.
 *
 * Return: unix seconds.
 */
uint64_t ca_slot_lifetime_point(const CaSlot *slot, unsigned num, unsigned den) {
        uint64_t life = slot->not_after - slot->created_at;

        return slot->created_at + life / den * num;
}

void ca_slot_clear(CaSlot *slot) {
        sigil_x509_issuer_free(slot->issuer);
        sigil_jwt_signer_free(slot->signer);
        X509_free(slot->cert);
        EVP_PKEY_free(slot->key);
        *slot = (CaSlot) {};
}

static const char *kind_name(CaSlotKind kind) {
        return kind == CA_SLOT_X509 ? "x509" : "jwt";
}

static CaSlot *find_slot(Ca *ca, CaSlotKind kind, CaSlotStatus status) {
        for (size_t i = 0; i < ca->n_slots; i++)
                if (ca->slots[i].kind == kind && ca->slots[i].status == status)
                        return &ca->slots[i];
        return NULL;
}

static void remove_slot(Ca *ca, size_t i) {
        ca_slot_clear(&ca->slots[i]);
        memmove(&ca->slots[i], &ca->slots[i + 1], (ca->n_slots - i - 1) * sizeof(CaSlot));
        ca->n_slots--;
        ca->slots[ca->n_slots] = (CaSlot) {};
}

static void audit_slot(const CaSlot *slot, const char *action) {
        sigil_audit("sigil-server", action, slot->id, "ok", "kind=%s not_after=%llu",
                    kind_name(slot->kind), (unsigned long long) slot->not_after);
}

/* Add a freshly made slot of @kind with @status; returns 0 or negative errno. */
static int add_slot(Ca *ca, CaSlotKind kind, CaSlotStatus status, uint64_t now,
                    SigilErr *reterr) {
        CaSlot slot;
        int r;

        if (ca->n_slots >= CA_SLOTS_MAX)
                return sigil_err_set(reterr, -E2BIG, "too many CA slots");
        r = ca_slot_make(ca, kind, now, &slot, reterr);
        if (r < 0)
                return r;
        slot.status = status;
        ca->slots[ca->n_slots++] = slot;
        audit_slot(&slot, status == CA_SLOT_ACTIVE ? "ca.activate" : "ca.prepare");
        return 0;
}

/* Drop slots at or past notAfter. Returns whether any went. */
static bool drop_expired(Ca *ca, uint64_t now) {
        bool changed = false;

        for (size_t i = 0; i < ca->n_slots;) {
                if (ca->slots[i].not_after > now) {
                        i++;
                        continue;
                }
                audit_slot(&ca->slots[i], "ca.drop");
                remove_slot(ca, i);
                changed = true;
        }
        return changed;
}

/* One kind's schedule. Sets *bundle_changed and *state_changed. */
static int tick_kind(Ca *ca, CaSlotKind kind, uint64_t now, bool *bundle_changed,
                     bool *state_changed, SigilErr *reterr) {
        CaSlot *active = find_slot(ca, kind, CA_SLOT_ACTIVE);
        CaSlot *prepared = find_slot(ca, kind, CA_SLOT_PREPARED);
        int r;

        if (!active) {
                /* Nothing can sign: use the prepared slot at once, or make one. */
                if (prepared) {
                        prepared->status = CA_SLOT_ACTIVE;
                        audit_slot(prepared, "ca.activate");
                } else {
                        r = add_slot(ca, kind, CA_SLOT_ACTIVE, now, reterr);
                        if (r < 0)
                                return r;
                        *bundle_changed = true;
                }
                *state_changed = true;
                return 0;
        }
        if (!prepared && now >= ca_slot_lifetime_point(active, 1, 2)) {
                r = add_slot(ca, kind, CA_SLOT_PREPARED, now, reterr);
                if (r < 0)
                        return r;
                *bundle_changed = *state_changed = true;
                return 0;
        }
        if (prepared && now >= ca_slot_lifetime_point(active, 5, 6)) {
                active->status = CA_SLOT_OLD;
                prepared->status = CA_SLOT_ACTIVE;
                audit_slot(prepared, "ca.activate");
                *state_changed = true;
        }
        return 0;
}

static int ca_tick_locked(Ca *ca, uint64_t now, SigilErr *reterr) {
        bool bundle_changed = false, state_changed = false;
        int r;

        if (drop_expired(ca, now))
                bundle_changed = state_changed = true;
        for (int k = 0; k < _CA_SLOT_KIND_MAX; k++) {
                r = tick_kind(ca, (CaSlotKind) k, now, &bundle_changed, &state_changed, reterr);
                if (r < 0)
                        return r;
        }
        if (state_changed && ca->cfg.keys_dir) {
                r = ca_journal_save(ca, reterr);
                if (r < 0)
                        return r;
        }
        return bundle_changed ? 1 : 0;
}

int ca_tick(Ca *ca, uint64_t now, SigilErr *reterr) {
        int r;

        pthread_mutex_lock(&ca->lock);
        r = ca_tick_locked(ca, now, reterr);
        pthread_mutex_unlock(&ca->lock);
        return r;
}

uint64_t ca_next_event(Ca *ca, uint64_t now) {
        uint64_t next = UINT64_MAX;

        pthread_mutex_lock(&ca->lock);
        for (size_t i = 0; i < ca->n_slots; i++) {
                const CaSlot *s = &ca->slots[i];

                next = MIN(next, s->not_after);
                if (s->status != CA_SLOT_ACTIVE)
                        continue;
                if (find_slot(ca, s->kind, CA_SLOT_PREPARED))
                        next = MIN(next, ca_slot_lifetime_point(s, 5, 6));
                else
                        next = MIN(next, ca_slot_lifetime_point(s, 1, 2));
        }
        pthread_mutex_unlock(&ca->lock);
        if (next == UINT64_MAX || next <= now)
                return 1;
        return next - now;
}

static int config_copy(const CaConfig *src, CaConfig *dst) {
        const char **fields[] = { &dst->trust_domain, &dst->subject, &dst->keys_dir,
                                  &dst->upstream_cert_path, &dst->upstream_key_path,
                                  &dst->upstream_bundle_path, &dst->jwt_issuer };

        *dst = *src;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                if (*fields[i]) {
                        *fields[i] = strdup(*fields[i]);
                        if (!*fields[i])
                                return -ENOMEM;
                }
        return 0;
}

static void config_free(CaConfig *c) {
        free((char *) c->trust_domain);
        free((char *) c->subject);
        free((char *) c->keys_dir);
        free((char *) c->upstream_cert_path);
        free((char *) c->upstream_key_path);
        free((char *) c->upstream_bundle_path);
        free((char *) c->jwt_issuer);
}

int ca_new(const CaConfig *cfg, uint64_t now, Ca **ret, SigilErr *reterr) {
        _cleanup_(ca_freep) Ca *ca = NULL;
        int r;

        if (cfg->ca_ttl_sec < CA_TTL_MIN_SEC)
                return sigil_err_set(reterr, -EINVAL, "ca_ttl must be at least %ds",
                                     CA_TTL_MIN_SEC);
        if (!cfg->upstream_cert_path != !cfg->upstream_key_path)
                return sigil_err_set(reterr, -EINVAL,
                                     "the upstream authority needs both a certificate and a key");
        ca = new0(Ca, 1);
        if (!ca)
                return -ENOMEM;
        pthread_mutex_init(&ca->lock, NULL);
        r = config_copy(cfg, &ca->cfg);
        if (r < 0)
                return sigil_err_set(reterr, r, "out of memory");
        if (ca->cfg.upstream_cert_path) {
                r = ca_upstream_load(ca, reterr);
                if (r < 0)
                        return r;
        }
        if (ca->cfg.keys_dir) {
                r = ca_journal_load(ca, now, reterr);
                if (r < 0)
                        return r;
        }
        r = ca_tick(ca, now, reterr);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(ca);
        return 0;
}

Ca *ca_free(Ca *ca) {
        if (!ca)
                return NULL;
        for (size_t i = 0; i < ca->n_slots; i++)
                ca_slot_clear(&ca->slots[i]);
        sk_X509_pop_free(ca->upstream_roots, X509_free);
        sk_X509_pop_free(ca->upstream_chain, X509_free);
        config_free(&ca->cfg);
        pthread_mutex_destroy(&ca->lock);
        free(ca);
        return NULL;
}

static int bundle_add_slot(SigilBundle *b, const CaSlot *s, bool upstream) {
        if (s->kind == CA_SLOT_JWT)
                return sigil_bundle_add_jwt_authority(b, s->id, s->key, s->not_after);
        if (upstream)
                return 0;       /* the upstream roots are published instead */
        return sigil_bundle_add_x509_authority(b, s->cert);
}

int ca_get_bundle(Ca *ca, SigilBundle **ret) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        int r;

        r = sigil_bundle_new(ca->cfg.trust_domain, &b);
        if (r < 0)
                return r;
        pthread_mutex_lock(&ca->lock);
        for (int i = 0; ca->upstream_roots && i < sk_X509_num(ca->upstream_roots) && r >= 0; i++)
                r = sigil_bundle_add_x509_authority(b, sk_X509_value(ca->upstream_roots, i));
        for (size_t i = 0; i < ca->n_slots && r >= 0; i++)
                r = bundle_add_slot(b, &ca->slots[i], ca->cfg.upstream_cert_path != NULL);
        pthread_mutex_unlock(&ca->lock);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

int ca_get_active_x509_key_id(Ca *ca, uint8_t ret[static CA_KEY_ID_MAX], size_t *ret_n) {
        const CaSlot *s;
        int r = -ENOENT;

        pthread_mutex_lock(&ca->lock);
        s = find_slot(ca, CA_SLOT_X509, CA_SLOT_ACTIVE);
        if (s && s->cert)
                r = sigil_x509_key_id(s->cert, ret, CA_KEY_ID_MAX, ret_n);
        pthread_mutex_unlock(&ca->lock);
        return r;
}

void ca_get_status(Ca *ca, CaStatus *ret) {
        CaStatus st = {};

        pthread_mutex_lock(&ca->lock);
        for (size_t i = 0; i < ca->n_slots; i++) {
                const CaSlot *s = &ca->slots[i];
                unsigned *counts[2][3] = {
                        { &st.x509_prepared, &st.x509_active, &st.x509_old },
                        { &st.jwt_prepared, &st.jwt_active, &st.jwt_old },
                };

                (*counts[s->kind][s->status])++;
                if (s->kind == CA_SLOT_X509 && s->status == CA_SLOT_ACTIVE)
                        st.x509_active_not_after = s->not_after;
        }
        pthread_mutex_unlock(&ca->lock);
        *ret = st;
}
