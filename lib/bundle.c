/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The trust bundle model: the authorities of one trust domain, and sets of
 * bundles keyed by trust domain. Encodings (SPIFFE JSON, JWKS, PEM, DER)
 * live in bundle-jwks.c and bundle-x509.c. A bundle owns what it holds;
 * adding takes a reference only on success.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sigil/bundle.h"
#include "ssl-util.h"

int sigil_bundle_new(const char *td, SigilBundle **ret) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;

        if (sigil_trust_domain_validate(td, NULL, 0) != 0)
                return -EINVAL;
        b = new0(SigilBundle, 1);
        if (!b)
                return -ENOMEM;
        (void) snprintf(b->td.name, sizeof(b->td.name), "%s", td);
        b->x509_authorities = sk_X509_new_null();
        if (!b->x509_authorities)
                return -ENOMEM;
        *ret = TAKE_PTR(b);
        return 0;
}

SigilBundle *sigil_bundle_free(SigilBundle *b) {
        if (!b)
                return NULL;
        sk_X509_pop_free(b->x509_authorities, X509_free);
        for (size_t i = 0; i < b->n_jwt_authorities; i++) {
                free(b->jwt_authorities[i].kid);
                EVP_PKEY_free(b->jwt_authorities[i].key);
        }
        free(b->jwt_authorities);
        free(b);
        return NULL;
}

int sigil_bundle_copy(const SigilBundle *b, SigilBundle **ret) {
        _cleanup_(sigil_bundle_freep) SigilBundle *c = NULL;
        int r;

        r = sigil_bundle_new(b->td.name, &c);
        if (r < 0)
                return r;
        for (int i = 0; i < sk_X509_num(b->x509_authorities); i++) {
                r = sigil_bundle_add_x509_authority(c, sk_X509_value(b->x509_authorities, i));
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < b->n_jwt_authorities; i++) {
                const SigilJwtAuthority *a = &b->jwt_authorities[i];

                r = sigil_bundle_add_jwt_authority(c, a->kid, a->key, a->expires_at);
                if (r < 0)
                        return r;
        }
        c->sequence = b->sequence;
        c->refresh_hint_sec = b->refresh_hint_sec;
        *ret = TAKE_PTR(c);
        return 0;
}

static bool bundle_has_x509(const SigilBundle *b, X509 *ca) {
        for (int i = 0; i < sk_X509_num(b->x509_authorities); i++)
                if (X509_cmp(sk_X509_value(b->x509_authorities, i), ca) == 0)
                        return true;
        return false;
}

int sigil_bundle_add_x509_authority(SigilBundle *b, X509 *ca) {
        if (!ca)
                return -EINVAL;
        if (bundle_has_x509(b, ca))
                return 0;
        if (sk_X509_num(b->x509_authorities) >= SIGIL_BUNDLE_KEYS_MAX)
                return -E2BIG;
        if (!X509_up_ref(ca))
                return -ENOMEM;
        if (sk_X509_push(b->x509_authorities, ca) <= 0) {
                X509_free(ca);
                return -ENOMEM;
        }
        return 0;
}

const SigilJwtAuthority *sigil_bundle_find_jwt_authority(const SigilBundle *b, const char *kid) {
        if (!kid)
                return NULL;
        for (size_t i = 0; i < b->n_jwt_authorities; i++)
                if (streq(b->jwt_authorities[i].kid, kid))
                        return &b->jwt_authorities[i];
        return NULL;
}

int sigil_bundle_add_jwt_authority(SigilBundle *b, const char *kid, EVP_PKEY *key,
                                   uint64_t expires_at) {
        const SigilJwtAuthority *old;
        SigilJwtAuthority *a;
        char *k;

        if (isempty(kid) || strlen(kid) > SIGIL_JWT_KID_MAX || !key)
                return -EINVAL;
        old = sigil_bundle_find_jwt_authority(b, kid);
        if (old)
                return EVP_PKEY_eq(old->key, key) == 1 ? 0 : -EEXIST;
        if (b->n_jwt_authorities >= SIGIL_BUNDLE_KEYS_MAX)
                return -E2BIG;
        a = reallocarray(b->jwt_authorities, b->n_jwt_authorities + 1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        b->jwt_authorities = a;
        k = strdup(kid);
        if (!k)
                return -ENOMEM;
        if (!EVP_PKEY_up_ref(key)) {
                free(k);
                return -ENOMEM;
        }
        a[b->n_jwt_authorities++] = (SigilJwtAuthority) {
                .kid = k,
                .key = key,
                .expires_at = expires_at,
        };
        return 0;
}

bool sigil_bundle_equal_authorities(const SigilBundle *a, const SigilBundle *b) {
        if (!streq(a->td.name, b->td.name))
                return false;
        if (sk_X509_num(a->x509_authorities) != sk_X509_num(b->x509_authorities) ||
            a->n_jwt_authorities != b->n_jwt_authorities)
                return false;
        for (int i = 0; i < sk_X509_num(a->x509_authorities); i++)
                if (!bundle_has_x509(b, sk_X509_value(a->x509_authorities, i)))
                        return false;
        for (size_t i = 0; i < a->n_jwt_authorities; i++) {
                const SigilJwtAuthority *o =
                        sigil_bundle_find_jwt_authority(b, a->jwt_authorities[i].kid);

                if (!o || EVP_PKEY_eq(o->key, a->jwt_authorities[i].key) != 1)
                        return false;
        }
        return true;
}

void sigil_bundle_set_done(SigilBundleSet *set) {
        for (size_t i = 0; i < set->n_bundles; i++)
                sigil_bundle_free(set->bundles[i]);
        free(set->bundles);
        *set = (SigilBundleSet) {};
}

static ssize_t bundle_set_index(const SigilBundleSet *set, const char *td) {
        for (size_t i = 0; i < set->n_bundles; i++)
                if (streq(set->bundles[i]->td.name, td))
                        return (ssize_t) i;
        return -1;
}

int sigil_bundle_set_put(SigilBundleSet *set, SigilBundle *b) {
        ssize_t i = bundle_set_index(set, b->td.name);
        SigilBundle **l;

        if (i >= 0) {
                sigil_bundle_free(set->bundles[i]);
                set->bundles[i] = b;
                return 0;
        }
        l = reallocarray(set->bundles, set->n_bundles + 1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        set->bundles = l;
        set->bundles[set->n_bundles++] = b;
        return 0;
}

const SigilBundle *sigil_bundle_set_get(const SigilBundleSet *set, const char *td) {
        ssize_t i = td ? bundle_set_index(set, td) : -1;

        return i < 0 ? NULL : set->bundles[i];
}

int sigil_bundle_set_remove(SigilBundleSet *set, const char *td) {
        ssize_t i = bundle_set_index(set, td);

        if (i < 0)
                return -ENOENT;
        sigil_bundle_free(set->bundles[i]);
        memmove(set->bundles + i, set->bundles + i + 1,
                (set->n_bundles - (size_t) i - 1) * sizeof(*set->bundles));
        set->n_bundles--;
        return 0;
}
