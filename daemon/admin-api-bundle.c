/* SPDX-License-Identifier: Apache-2.0 */
/*
 * BundleAPI (our bundle; federated bundles set by operators) and SVIDAPI
 * (operator-minted SVIDs). Federated bundles arrive as DER certificates and
 * SPKI keys, are rebuilt into a SigilBundle (which parses every one) and
 * stored as SPIFFE bundle JSON. Mint requests go to the CA, which enforces
 * its own policy; the caller and the SPIFFE ID are audited, never a token.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "admin-api.h"
#include "sigil/jwtsvid.h"
#include "sigil/log.h"
#include "sync-hub.h"
#include "ssl-util.h"

#define MINT_AUDIENCES_MAX 64

/* Proto view of a bundle; free with bundle_proto_done(). */
typedef struct BundleProto {
        Sigil__Admin__V1__Bundle msg;
        Sigil__Admin__V1__X509Authority *x509;
        Sigil__Admin__V1__X509Authority **x509_ptrs;
        Sigil__Admin__V1__JWTAuthority *jwt;
        Sigil__Admin__V1__JWTAuthority **jwt_ptrs;
} BundleProto;

static void bundle_proto_done(BundleProto *p) {
        for (size_t i = 0; p->x509 && i < p->msg.n_x509_authorities; i++)
                OPENSSL_free(p->x509[i].asn1.data);
        for (size_t i = 0; p->jwt && i < p->msg.n_jwt_authorities; i++)
                free(p->jwt[i].public_key.data);
        free(p->x509);
        free(p->x509_ptrs);
        free(p->jwt);
        free(p->jwt_ptrs);
}

static int bundle_to_proto(const SigilBundle *b, BundleProto *p) {
        size_t nx = (size_t) sk_X509_num(b->x509_authorities), nj = b->n_jwt_authorities;

        *p = (BundleProto) {};
        sigil__admin__v1__bundle__init(&p->msg);
        p->msg.trust_domain = (char *) b->td.name;
        p->msg.refresh_hint = b->refresh_hint_sec;
        p->msg.sequence_number = b->sequence;
        p->x509 = new0(Sigil__Admin__V1__X509Authority, nx);
        p->x509_ptrs = new0(Sigil__Admin__V1__X509Authority *, nx);
        p->jwt = new0(Sigil__Admin__V1__JWTAuthority, nj);
        p->jwt_ptrs = new0(Sigil__Admin__V1__JWTAuthority *, nj);
        if (!p->x509 || !p->x509_ptrs || !p->jwt || !p->jwt_ptrs)
                return -ENOMEM;
        for (size_t i = 0; i < nx; i++) {
                unsigned char *der = NULL;
                int n = i2d_X509(sk_X509_value(b->x509_authorities, (int) i), &der);

                sigil__admin__v1__x509_authority__init(&p->x509[i]);
                if (n <= 0)
                        return -ENOMEM;
                p->x509[i].asn1 = (ProtobufCBinaryData) { .len = (size_t) n, .data = der };
                p->x509_ptrs[i] = &p->x509[i];
                p->msg.n_x509_authorities = i + 1;
        }
        p->msg.x509_authorities = p->x509_ptrs;
        for (size_t i = 0; i < nj; i++) {
                const SigilJwtAuthority *a = &b->jwt_authorities[i];
                uint8_t *spki;
                size_t n;

                sigil__admin__v1__jwtauthority__init(&p->jwt[i]);
                if (sigil_key_to_spki_der(a->key, &spki, &n) < 0)
                        return -ENOMEM;
                p->jwt[i].public_key = (ProtobufCBinaryData) { .len = n, .data = spki };
                p->jwt[i].key_id = a->kid;
                p->jwt[i].expires_at = (int64_t) a->expires_at;
                p->jwt_ptrs[i] = &p->jwt[i];
                p->msg.n_jwt_authorities = i + 1;
        }
        p->msg.jwt_authorities = p->jwt_ptrs;
        return 0;
}

static int bundle_from_proto(const Sigil__Admin__V1__Bundle *p, SigilBundle **ret,
                             SigilErr *err) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        SigilTrustDomain td;
        int r;

        r = sigil_trust_domain_parse(p->trust_domain ? p->trust_domain : "", &td, err);
        if (r < 0)
                return r;
        r = sigil_bundle_new(td.name, &b);
        if (r < 0)
                return r;
        for (size_t i = 0; i < p->n_x509_authorities; i++) {
                _cleanup_(sigil_bundle_freep) SigilBundle *one = NULL;
                const ProtobufCBinaryData *d = &p->x509_authorities[i]->asn1;

                r = sigil_bundle_from_der(td.name, d->data, d->len, &one, err);
                if (r < 0)
                        return sigil_err_prefix(err, r, "X.509 authority %zu", i);
                for (int k = 0; k < sk_X509_num(one->x509_authorities); k++) {
                        r = sigil_bundle_add_x509_authority(b,
                                                            sk_X509_value(one->x509_authorities, k));
                        if (r < 0)
                                return r;
                }
        }
        for (size_t i = 0; i < p->n_jwt_authorities; i++) {
                const Sigil__Admin__V1__JWTAuthority *a = p->jwt_authorities[i];
                _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;

                r = sigil_key_from_spki_der(a->public_key.data, a->public_key.len, &key, err);
                if (r < 0)
                        return sigil_err_prefix(err, -EINVAL, "JWT authority %zu", i);
                r = sigil_bundle_add_jwt_authority(b, a->key_id, key,
                                                   a->expires_at > 0 ? (uint64_t) a->expires_at : 0);
                if (r < 0)
                        return sigil_err_set(err, -EINVAL, "JWT authority %zu: bad or duplicate key ID",
                                             i);
        }
        b->refresh_hint_sec = p->refresh_hint;
        b->sequence = p->sequence_number;
        *ret = TAKE_PTR(b);
        return 0;
}

static void reply_bundle(RpcCall *call, const SigilBundle *b) {
        BundleProto p;

        if (bundle_to_proto(b, &p) < 0)
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "out of memory");
        else
                (void) rpc_call_reply(call, &p.msg.base);
        bundle_proto_done(&p);
}

static void get_bundle(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (server_bundle_get(s, &b) < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "out of memory");
                return;
        }
        reply_bundle(call, b);
}

static int load_federated(Server *s, const char *td, SigilBundle **ret) {
        _cleanup_(freep) char *json = NULL;
        int r;

        r = ds_bundle_get(s->ds, td, &json);
        if (r != 0)
                return r;
        return sigil_bundle_from_spiffe_json(td, json, strlen(json), ret, NULL);
}

/* Reply with the bundles of @tds (one page); a stored bundle that does not parse is skipped. */
static void list_federated_reply(RpcCall *call, Server *s, char **tds, const char *next) {
        Sigil__Admin__V1__ListFederatedBundlesResponse resp =
                SIGIL__ADMIN__V1__LIST_FEDERATED_BUNDLES_RESPONSE__INIT;
        size_t n = strv_length(tds), k = 0;
        BundleProto *protos = new0(BundleProto, n);
        Sigil__Admin__V1__Bundle **ptrs = new0(Sigil__Admin__V1__Bundle *, n);
        SigilBundle **bundles = new0(SigilBundle *, n);
        int r = protos && ptrs && bundles ? 0 : -ENOMEM;

        for (size_t i = 0; r >= 0 && i < n; i++) {
                if (load_federated(s, tds[i], &bundles[k]) != 0) {
                        log_warning("stored bundle of '%s' does not parse; skipped", tds[i]);
                        continue;
                }
                r = bundle_to_proto(bundles[k], &protos[k]);
                ptrs[k] = &protos[k].msg;
                k++;
        }
        if (r < 0)
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "cannot list bundles");
        else {
                resp.bundles = ptrs;
                resp.n_bundles = k;
                resp.next_page_token = (char *) (next ? next : "");
                (void) rpc_call_reply(call, &resp.base);
        }
        for (size_t i = 0; i < k; i++) {
                bundle_proto_done(&protos[i]);
                sigil_bundle_free(bundles[i]);
        }
        free(protos);
        free(ptrs);
        free(bundles);
}

/* Federated bundles by trust domain name, paged like ListEntries (the token is the last name). */
static void list_federated(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__ListFederatedBundlesRequest *r = (const void *) req;
        _cleanup_(strv_freep) char **tds = NULL;
        _cleanup_(freep) char *next = NULL;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        size_t page_size;
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        if (!admin_page_size(call, r->page_size, &page_size))
                return;
        k = ds_bundle_list(s->ds, s->cfg->trust_domain, r->page_token, page_size, &tds, &next);
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k),
                                       k == -EINVAL ? "invalid page token" : "cannot list bundles");
                return;
        }
        list_federated_reply(call, s, tds, next);
}

static void set_federated(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__SetFederatedBundleRequest *r = (const void *) req;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *json = NULL;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        SigilErr err = {};
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        k = r->bundle ? bundle_from_proto(r->bundle, &b, &err)
                      : sigil_err_set(&err, -EINVAL, "missing bundle");
        if (k == 0 && streq(b->td.name, s->cfg->trust_domain))
                k = sigil_err_set(&err, -EINVAL,
                                  "'%s' is this server's own trust domain; its bundle is managed "
                                  "by the CA", b->td.name);
        if (k == 0 && sk_X509_num(b->x509_authorities) == 0 && b->n_jwt_authorities == 0)
                k = sigil_err_set(&err, -EINVAL, "the bundle holds no authorities");
        if (k == 0)
                k = sigil_bundle_to_spiffe_json(b, &json);
        if (k == 0)
                k = ds_bundle_put(s->ds, b->td.name, json);
        sigil_audit(caller, "bundle.set", b ? b->td.name : NULL, admin_audit_result(k),
                    k == 0 ? NULL : "reason='%s'", err.msg[0] ? err.msg : "cannot store it");
        if (k == 0 && s->hub)
                sync_hub_federated_changed(s->hub, b->td.name, json);
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "%s",
                                       err.msg[0] ? err.msg : "cannot store the bundle");
                return;
        }
        reply_bundle(call, b);
}

static void delete_federated(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__DeleteFederatedBundleRequest *r = (const void *) req;
        Sigil__Admin__V1__Empty e = SIGIL__ADMIN__V1__EMPTY__INIT;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        SigilTrustDomain td;
        SigilErr err = {};
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        k = sigil_trust_domain_parse(r->trust_domain ? r->trust_domain : "", &td, &err);
        if (k == 0 && streq(td.name, s->cfg->trust_domain))
                k = sigil_err_set(&err, -EINVAL, "cannot delete this server's own bundle");
        if (k == 0) {
                k = ds_bundle_delete(s->ds, td.name);
                if (k == DS_E_NOT_FOUND)
                        (void) sigil_err_set(&err, k, "no bundle for trust domain '%s'", td.name);
        }
        sigil_audit(caller, "bundle.delete", r->trust_domain, admin_audit_result(k),
                    k == 0 ? NULL : "reason='%s'", err.msg[0] ? err.msg : "cannot delete it");
        if (k == 0 && s->hub)
                sync_hub_federated_changed(s->hub, td.name, NULL);
        if (k != 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "%s",
                                       err.msg[0] ? err.msg : "cannot delete the bundle");
                return;
        }
        (void) rpc_call_reply(call, &e.base);
}

static void mint_x509(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__MintX509SVIDRequest *r = (const void *) req;
        Sigil__Admin__V1__MintX509SVIDResponse resp =
                SIGIL__ADMIN__V1__MINT_X509_SVIDRESPONSE__INIT;
        ProtobufCBinaryData certs[4];
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        CaChain chain = {};
        SigilErr err = {};
        CaX509Request cr = {
                .spiffe_id = r->spiffe_id,
                .dns_names = (const char *const *) r->dns_names,
                .n_dns_names = r->n_dns_names,
                .ttl_sec = r->ttl > 0 ? (uint64_t) r->ttl : 0,
                .csr = r->csr.data,
                .n_csr = r->csr.len,
        };
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        k = r->ttl < 0 ? sigil_err_set(&err, -EINVAL, "ttl must not be negative") :
            r->csr.len == 0 ? sigil_err_set(&err, -EINVAL, "missing CSR") :
                              ca_sign_x509_svid(s->ca, &cr, &chain, &err);
        sigil_audit(caller, "svid.mint.x509", r->spiffe_id, admin_audit_result(k),
                    k == 0 ? "serial=%s" : "reason='%s'", k == 0 ? chain.serial : err.msg);
        if (k < 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "%s", err.msg);
                return;
        }
        for (size_t i = 0; i < chain.n; i++)
                certs[i] = (ProtobufCBinaryData) { .len = chain.n_der[i], .data = chain.der[i] };
        resp.cert_chain = certs;
        resp.n_cert_chain = chain.n;
        resp.expires_at = (int64_t) chain.expires_at;
        (void) rpc_call_reply(call, &resp.base);
        ca_chain_done(&chain);
}

/* The "iat" of a token the CA has just signed, for the reply (0 if unreadable). */
static int64_t token_issued_at(const char *token) {
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;

        if (sigil_jwtsvid_parse_insecure(token, strlen(token), &svid, NULL) < 0)
                return 0;
        return (int64_t) svid->iat;
}

static void mint_jwt(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const Sigil__Admin__V1__MintJWTSVIDRequest *r = (const void *) req;
        Sigil__Admin__V1__MintJWTSVIDResponse resp =
                SIGIL__ADMIN__V1__MINT_JWTSVIDRESPONSE__INIT;
        Server *s = userdata;
        char caller[ADMIN_CALLER_MAX];
        char *token = NULL;
        uint64_t exp = 0;
        SigilErr err = {};
        int k;

        if (!admin_authorize(call, s, caller, sizeof(caller)))
                return;
        k = r->ttl < 0 ? sigil_err_set(&err, -EINVAL, "ttl must not be negative") :
                         ca_sign_jwt_svid(s->ca, r->spiffe_id, (const char *const *) r->audience,
                                          r->n_audience, r->ttl > 0 ? (uint64_t) r->ttl : 0,
                                          &token, &exp, &err);
        if (k == 0)
                sigil_audit(caller, "svid.mint.jwt", r->spiffe_id, "ok", "exp=%llu",
                            (unsigned long long) exp);
        else
                sigil_audit(caller, "svid.mint.jwt", r->spiffe_id, admin_audit_result(k),
                            "reason='%s'", err.msg);
        if (k < 0) {
                (void) rpc_call_finish(call, admin_status_from_error(k), "%s", err.msg);
                return;
        }
        resp.token = token;
        resp.expires_at = (int64_t) exp;
        resp.issued_at = token_issued_at(token);
        (void) rpc_call_reply(call, &resp.base);
        OPENSSL_cleanse(token, strlen(token));
        free(token);
}

const RpcMethod admin_bundle_methods[] = {
        { "/sigil.admin.v1.BundleAPI/GetBundle", RPC_UNARY,
          &sigil__admin__v1__get_bundle_request__descriptor, get_bundle, 0 },
        { "/sigil.admin.v1.BundleAPI/ListFederatedBundles", RPC_UNARY,
          &sigil__admin__v1__list_federated_bundles_request__descriptor, list_federated, 0 },
        { "/sigil.admin.v1.BundleAPI/SetFederatedBundle", RPC_UNARY,
          &sigil__admin__v1__set_federated_bundle_request__descriptor, set_federated,
          4u * 1024u * 1024u },
        { "/sigil.admin.v1.BundleAPI/DeleteFederatedBundle", RPC_UNARY,
          &sigil__admin__v1__delete_federated_bundle_request__descriptor, delete_federated, 0 },
        { "/sigil.admin.v1.SVIDAPI/MintX509SVID", RPC_UNARY,
          &sigil__admin__v1__mint_x509_svidrequest__descriptor, mint_x509, 0 },
        { "/sigil.admin.v1.SVIDAPI/MintJWTSVID", RPC_UNARY,
          &sigil__admin__v1__mint_jwtsvidrequest__descriptor, mint_jwt, 0 },
};
const size_t admin_bundle_n_methods = ELEMENTSOF(admin_bundle_methods);
