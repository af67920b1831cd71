/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FetchJWTSVID, FetchJWTBundles and ValidateJWTSVID. JWT-SVIDs come from the
 * JWT cache (minted through the server when missing or past half-life).
 * ValidateJWTSVID needs no identity of the caller: it checks the token
 * against every bundle the agent holds, by the token's own trust domain.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "json-struct.h"
#include "sigil/clock.h"
#include "sigil/jwtsvid.h"
#include "sigil/log.h"
#include "sigil/spiffeid.h"
#include "workload-internal.h"

#define JWT_AUDIENCE_LEN_MAX 1024

static void free_tokens(char **tokens, size_t n) {
        for (size_t i = 0; tokens && i < n; i++)
                if (tokens[i]) {
                        OPENSSL_cleanse(tokens[i], strlen(tokens[i]));
                        free(tokens[i]);
                }
        free(tokens);
}

/* Check the request; on failure the call is answered and false returned. */
static bool jwt_request_ok(RpcCall *call, const JWTSVIDRequest *r) {
        SigilErr err = {};
        SigilSpiffeId id;

        if (r->n_audience == 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "audience must be specified");
                return false;
        }
        for (size_t i = 0; i < r->n_audience; i++)
                if (isempty(r->audience[i]) || strlen(r->audience[i]) > JWT_AUDIENCE_LEN_MAX ||
                    r->n_audience > SIGIL_JWT_AUDIENCES_MAX) {
                        (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                               "invalid audience");
                        return false;
                }
        if (!isempty(r->spiffe_id) && sigil_spiffeid_from_string(r->spiffe_id, &id, &err) < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "invalid requested SPIFFE ID: %s", err.msg);
                return false;
        }
        return true;
}

static void reply_jwt_svids(RpcCall *call, const CacheView *view, const JWTSVIDRequest *r,
                            char **tokens, const bool *pick) {
        JWTSVIDResponse resp = JWTSVIDRESPONSE__INIT;
        JWTSVID *svids = new0(JWTSVID, view->n_svids);
        JWTSVID **ptrs = new0(JWTSVID *, view->n_svids);
        size_t n = 0;

        if (!svids || !ptrs) {
                (void) rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < view->n_svids; i++) {
                if (!pick[i])
                        continue;
                jwtsvid__init(&svids[n]);
                svids[n].spiffe_id = view->svids[i]->spiffe_id;
                svids[n].svid = tokens[i];
                svids[n].hint = view->svids[i]->hint ? view->svids[i]->hint : (char *) "";
                ptrs[n] = &svids[n];
                n++;
        }
        resp.svids = ptrs;
        resp.n_svids = n;
        (void) rpc_call_reply(call, &resp.base);
out:
        free(svids);
        free(ptrs);
}

void wl_fetch_jwt_svid(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const JWTSVIDRequest *r = (const JWTSVIDRequest *) req;
        _cleanup_(sigil_selector_set_done) SigilSelectorSet sels = {};
        _cleanup_(cache_view_freep) CacheView *view = NULL;
        WorkloadApi *api = userdata;
        char **tokens = NULL;
        bool *pick = NULL;
        size_t n_pick = 0;

        if (!wl_call_prologue(api, call, &sels, NULL) || !jwt_request_ok(call, r))
                return;
        if (cache_view_get(api->cfg.cache, &sels, &view) < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "cache unavailable");
                return;
        }
        tokens = new0(char *, view->n_svids);
        pick = new0(bool, view->n_svids);
        if (!tokens || !pick) {
                (void) rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                goto out;
        }
        for (size_t i = 0; i < view->n_svids; i++) {
                const CacheSvid *s = view->svids[i];
                SigilErr err = {};
                int k;

                if (!isempty(r->spiffe_id) && !streq(r->spiffe_id, s->spiffe_id))
                        continue;
                k = jwt_cache_get(api->jwts, s->entry_id, s->entry_revision,
                                  (const char *const *) r->audience, r->n_audience,
                                  sigil_now_sec(), api->cfg.mint_jwt, api->cfg.mint_userdata,
                                  &tokens[i], &err);
                if (k < 0) {
                        /* The details (server address, TLS errors) go to the log only. */
                        log_warning("cannot mint a JWT-SVID for '%s': %s", s->spiffe_id, err.msg);
                        if (k == -EPERM)
                                (void) rpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED,
                                                       NO_IDENTITY);
                        else
                                (void) rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE,
                                                       "could not mint a JWT-SVID: %s",
                                                       k == -EAGAIN ? "the server is unreachable" :
                                                                      "signing failed");
                        goto out;
                }
                pick[i] = true;
                n_pick++;
        }
        if (n_pick == 0)
                (void) rpc_call_finish(call, GRPC_STATUS_PERMISSION_DENIED, NO_IDENTITY);
        else
                reply_jwt_svids(call, view, r, tokens, pick);
out:
        free_tokens(tokens, view->n_svids);
        free(pick);
}

typedef struct JwtBundlesMsg {
        JWTBundlesResponse resp;
        JWTBundlesResponse__BundlesEntry *entries;
        JWTBundlesResponse__BundlesEntry **ptrs;
        char (*keys)[300];
        char **jsons;
        size_t n;
} JwtBundlesMsg;

static void jwt_bundles_free(ProtobufCMessage *m) {
        JwtBundlesMsg *b = (JwtBundlesMsg *) m;

        for (size_t i = 0; b->jsons && i < b->n; i++)
                free(b->jsons[i]);
        free(b->jsons);
        free(b->entries);
        free(b->ptrs);
        free(b->keys);
        free(b);
}

int wl_build_jwt_bundles(WorkloadApi *api, const CacheView *view, WlMessage *ret) {
        size_t n = view->federated.n_bundles + 1;
        JwtBundlesMsg *b;
        int r = 0;

        if (view->n_svids == 0 || !view->bundle)
                return -ENOENT;
        b = new0(JwtBundlesMsg, 1);
        if (!b)
                return -ENOMEM;
        jwtbundles_response__init(&b->resp);
        b->entries = new0(JWTBundlesResponse__BundlesEntry, n);
        b->ptrs = new0(JWTBundlesResponse__BundlesEntry *, n);
        b->keys = reallocarray(NULL, n, sizeof(*b->keys));
        b->jsons = new0(char *, n);
        if (!b->entries || !b->ptrs || !b->keys || !b->jsons)
                r = -ENOMEM;
        for (size_t i = 0; r == 0 && i < n; i++) {
                const SigilBundle *src = i == 0 ? view->bundle : view->federated.bundles[i - 1];

                r = sigil_bundle_to_jwt_jwks_json(src, &b->jsons[i]);
                if (r < 0)
                        break;
                b->n = i + 1;
                jwtbundles_response__bundles_entry__init(&b->entries[i]);
                wl_td_key(src->td.name, b->keys[i], sizeof(b->keys[i]));
                b->entries[i].key = b->keys[i];
                b->entries[i].value = (ProtobufCBinaryData) { .len = strlen(b->jsons[i]),
                                                              .data = (uint8_t *) b->jsons[i] };
                b->ptrs[i] = &b->entries[i];
        }
        if (r < 0) {
                jwt_bundles_free(&b->resp.base);
                return r;
        }
        b->resp.bundles = b->ptrs;
        b->resp.n_bundles = n;
        *ret = (WlMessage) { .msg = &b->resp.base, .free_msg = jwt_bundles_free };
        return 0;
}

/* SPIRE returns "aud" as a list whatever the token holds; so do we. */
static int normalize_aud(json_t *claims) {
        json_t *aud = json_object_get(claims, "aud");
        json_t *list;

        if (!json_is_string(aud))
                return 0;
        list = json_pack("[O]", aud);
        if (!list)
                return -ENOMEM;
        return json_object_set_new(claims, "aud", list) < 0 ? -ENOMEM : 0;
}

void wl_validate_jwt_svid(RpcCall *call, const ProtobufCMessage *req, void *userdata) {
        const ValidateJWTSVIDRequest *r = (const ValidateJWTSVIDRequest *) req;
        ValidateJWTSVIDResponse resp = VALIDATE_JWTSVIDRESPONSE__INIT;
        _cleanup_(sigil_bundle_set_done) SigilBundleSet bundles = {};
        _cleanup_(sigil_jwtsvid_freep) SigilJwtSvid *svid = NULL;
        _cleanup_(sigil_selector_set_done) SigilSelectorSet sels = {};
        Google__Protobuf__Struct *claims = NULL;
        WorkloadApi *api = userdata;
        const char *aud[1];
        SigilErr err = {};
        int k;

        /* The caller needs no identity here, only to pass attestation (a live process). */
        if (!wl_call_prologue(api, call, &sels, NULL))
                return;
        if (isempty(r->audience)) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "audience must be specified");
                return;
        }
        if (isempty(r->svid)) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT,
                                       "svid must be specified");
                return;
        }
        aud[0] = r->audience;
        k = cache_bundles(api->cfg.cache, &bundles);
        if (k == 0)
                k = sigil_jwtsvid_validate(r->svid, strlen(r->svid), &bundles, aud, 1,
                                           sigil_now_sec(), &svid, &err);
        if (k < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "%s",
                                       err.msg[0] ? err.msg : "invalid JWT-SVID");
                return;
        }
        k = normalize_aud(svid->claims);
        if (k == 0)
                k = json_to_struct(svid->claims, &claims);
        if (k < 0) {
                (void) rpc_call_finish(call, GRPC_STATUS_INTERNAL, "cannot encode the claims");
                return;
        }
        resp.spiffe_id = svid->id.str;
        resp.claims = claims;
        (void) rpc_call_reply(call, &resp.base);
        protobuf_c_message_free_unpacked(&claims->base, NULL);
}
