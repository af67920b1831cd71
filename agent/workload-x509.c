/* SPDX-License-Identifier: Apache-2.0 */
/*
 * X509SVIDResponse and X509BundlesResponse from a cache view. Messages
 * borrow the view's bytes; only the containers are allocated here, and
 * free_msg releases exactly those.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "workload-internal.h"

/* Bundle DER kept alive with the message. */
typedef struct X509Msg {
        X509SVIDResponse resp;
        X509SVID *svids;
        X509SVID **svid_ptrs;
        X509SVIDResponse__FederatedBundlesEntry *feds;
        X509SVIDResponse__FederatedBundlesEntry **fed_ptrs;
        char (*fed_keys)[300];
        uint8_t **ders;         /* bundle DER blobs to free */
        size_t n_ders;
} X509Msg;

static void x509_msg_free(ProtobufCMessage *m) {
        X509Msg *x = (X509Msg *) m;

        for (size_t i = 0; i < x->n_ders; i++)
                free(x->ders[i]);
        free(x->ders);
        free(x->svids);
        free(x->svid_ptrs);
        free(x->feds);
        free(x->fed_ptrs);
        free(x->fed_keys);
        free(x);
}

static int keep_der(uint8_t ***ders, size_t *n, uint8_t *der) {
        uint8_t **l = reallocarray(*ders, *n + 1, sizeof(*l));

        if (!l) {
                free(der);
                return -ENOMEM;
        }
        l[(*n)++] = der;
        *ders = l;
        return 0;
}

static int x509_msg_federated(X509Msg *x, const SigilBundleSet *feds) {
        size_t n = feds->n_bundles;

        x->feds = new0(X509SVIDResponse__FederatedBundlesEntry, n);
        x->fed_ptrs = new0(X509SVIDResponse__FederatedBundlesEntry *, n);
        x->fed_keys = reallocarray(NULL, n ? n : 1, sizeof(*x->fed_keys));
        if (!x->feds || !x->fed_ptrs || !x->fed_keys)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                uint8_t *der = NULL;
                size_t n_der = 0;
                int r = sigil_bundle_to_der(feds->bundles[i], &der, &n_der);

                if (r == 0)
                        r = keep_der(&x->ders, &x->n_ders, der);
                if (r < 0)
                        return r;
                x509_svidresponse__federated_bundles_entry__init(&x->feds[i]);
                wl_td_key(feds->bundles[i]->td.name, x->fed_keys[i], sizeof(x->fed_keys[i]));
                x->feds[i].key = x->fed_keys[i];
                x->feds[i].value = (ProtobufCBinaryData) { .len = n_der, .data = der };
                x->fed_ptrs[i] = &x->feds[i];
        }
        x->resp.federated_bundles = x->fed_ptrs;
        x->resp.n_federated_bundles = n;
        return 0;
}

int wl_build_x509_svid(WorkloadApi *api, const CacheView *view, WlMessage *ret) {
        X509Msg *x;
        uint8_t *bundle_der = NULL;
        size_t n_bundle = 0;
        int r;

        if (view->n_svids == 0 || !view->bundle)
                return -ENOENT;
        x = new0(X509Msg, 1);
        if (!x)
                return -ENOMEM;
        x509_svidresponse__init(&x->resp);
        x->svids = new0(X509SVID, view->n_svids);
        x->svid_ptrs = new0(X509SVID *, view->n_svids);
        r = x->svids && x->svid_ptrs ? 0 : -ENOMEM;
        if (r == 0)
                r = sigil_bundle_to_der(view->bundle, &bundle_der, &n_bundle);
        if (r == 0)
                r = keep_der(&x->ders, &x->n_ders, bundle_der);
        for (size_t i = 0; r == 0 && i < view->n_svids; i++) {
                const CacheSvid *s = view->svids[i];

                x509_svid__init(&x->svids[i]);
                x->svids[i].spiffe_id = s->spiffe_id;
                x->svids[i].x509_svid = (ProtobufCBinaryData) { .len = s->n_chain_der,
                                                                .data = s->chain_der };
                x->svids[i].x509_svid_key = (ProtobufCBinaryData) { .len = s->n_key_pkcs8,
                                                                    .data = s->key_pkcs8 };
                x->svids[i].bundle = (ProtobufCBinaryData) { .len = n_bundle, .data = bundle_der };
                x->svids[i].hint = s->hint ? s->hint : (char *) "";
                x->svid_ptrs[i] = &x->svids[i];
        }
        if (r == 0) {
                x->resp.svids = x->svid_ptrs;
                x->resp.n_svids = view->n_svids;
                r = x509_msg_federated(x, &view->federated);
        }
        if (r < 0) {
                x509_msg_free(&x->resp.base);
                return r;
        }
        *ret = (WlMessage) { .msg = &x->resp.base, .free_msg = x509_msg_free };
        return 0;
}

/* X509BundlesResponse shares the layout work: own bundle plus the federated ones. */
typedef struct BundlesMsg {
        X509BundlesResponse resp;
        X509BundlesResponse__BundlesEntry *entries;
        X509BundlesResponse__BundlesEntry **ptrs;
        char (*keys)[300];
        uint8_t **ders;
        size_t n_ders;
} BundlesMsg;

static void bundles_msg_free(ProtobufCMessage *m) {
        BundlesMsg *b = (BundlesMsg *) m;

        for (size_t i = 0; i < b->n_ders; i++)
                free(b->ders[i]);
        free(b->ders);
        free(b->entries);
        free(b->ptrs);
        free(b->keys);
        free(b);
}

int wl_build_x509_bundles(WorkloadApi *api, const CacheView *view, WlMessage *ret) {
        size_t n = view->federated.n_bundles + 1;
        BundlesMsg *b;
        int r = 0;

        if (view->n_svids == 0 || !view->bundle)
                return -ENOENT;
        b = new0(BundlesMsg, 1);
        if (!b)
                return -ENOMEM;
        x509_bundles_response__init(&b->resp);
        b->entries = new0(X509BundlesResponse__BundlesEntry, n);
        b->ptrs = new0(X509BundlesResponse__BundlesEntry *, n);
        b->keys = reallocarray(NULL, n, sizeof(*b->keys));
        if (!b->entries || !b->ptrs || !b->keys)
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < n; i++) {
                const SigilBundle *src = i == 0 ? view->bundle : view->federated.bundles[i - 1];
                uint8_t *der = NULL;
                size_t n_der = 0;

                r = sigil_bundle_to_der(src, &der, &n_der);
                if (r == 0)
                        r = keep_der(&b->ders, &b->n_ders, der);
                if (r < 0)
                        break;
                x509_bundles_response__bundles_entry__init(&b->entries[i]);
                wl_td_key(src->td.name, b->keys[i], sizeof(b->keys[i]));
                b->entries[i].key = b->keys[i];
                b->entries[i].value = (ProtobufCBinaryData) { .len = n_der, .data = der };
                b->ptrs[i] = &b->entries[i];
        }
        if (r < 0) {
                bundles_msg_free(&b->resp.base);
                return r;
        }
        b->resp.bundles = b->ptrs;
        b->resp.n_bundles = n;
        *ret = (WlMessage) { .msg = &b->resp.base, .free_msg = bundles_msg_free };
        return 0;
}
