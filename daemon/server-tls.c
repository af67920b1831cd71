/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's own X.509-SVID, spiffe://<td>/sigil/server, which agents
 * check when they connect to the agent API. Signed by our CA like any SVID,
 * renewed at half its lifetime; the file-watching TLS identity
 * (lib/rpc/rpc-tls.h) hands it to new handshakes without a restart. The
 * verifier's trust bundle follows every bundle change.
 *
 * The tick also watches which X.509 CA signs: an activation leaves the
 * bundle as it was (the CA was published when prepared), so it is noticed
 * here, told to the agents through the sync hub (they re-sign at once what
 * the previous CA signed), and our own SVID is re-signed too.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "server-state.h"
#include "sigil/clock.h"
#include "sigil/log.h"
#include "ssl-util.h"
#include "sync-hub.h"

static int chain_to_stack(const CaChain *c, STACK_OF(X509) **ret) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = sk_X509_new_null();

        if (!chain)
                return -ENOMEM;
        for (size_t i = 0; i < c->n; i++) {
                const unsigned char *p = c->der[i];
                X509 *x = d2i_X509(NULL, &p, (long) c->n_der[i]);

                if (!x || sk_X509_push(chain, x) <= 0) {
                        X509_free(x);
                        return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(chain);
        return 0;
}

static int server_tls_renew(Server *s, uint64_t now, SigilErr *reterr) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *stack = NULL;
        _cleanup_(freep) uint8_t *spki = NULL;
        const char *dns[] = { "localhost" };
        char id[512];
        CaChain chain = {};
        CaX509Request req = {
                .spiffe_id = id,
                .dns_names = dns,
                .n_dns_names = ELEMENTSOF(dns),
                .ttl_sec = s->cfg->agent_svid_ttl / USEC_PER_SEC,
        };
        int r;

        (void) snprintf(id, sizeof(id), "spiffe://%s/sigil/server", s->cfg->trust_domain);
        r = sigil_key_generate(SIGIL_KEY_EC_P256, &key);
        if (r == 0)
                r = sigil_key_to_spki_der(key, &spki, &req.n_spki);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot make the server key");
        req.spki = spki;
        r = ca_sign_x509_svid(s->ca, &req, &chain, reterr);
        if (r < 0)
                return r;
        r = chain_to_stack(&chain, &stack);
        if (r == 0)
                r = rpc_tls_identity_set_svid(s->tls, key, stack, reterr);
        if (r == 0) {
                s->tls_renew_at = now + (chain.expires_at > now ? (chain.expires_at - now) / 2 : 1);
                sigil_audit("sigil-server", "svid.server", id, "ok", "serial=%s expires=%llu",
                            chain.serial, (unsigned long long) chain.expires_at);
        }
        ca_chain_done(&chain);
        return r;
}

static int set_tls_bundles(Server *s) {
        _cleanup_(sigil_bundle_set_done) SigilBundleSet set = {};
        SigilBundle *b = NULL;
        int r;

        r = server_bundle_get(s, &b);
        if (r < 0)
                return r;
        r = sigil_bundle_set_put(&set, b);
        if (r < 0) {
                sigil_bundle_free(b);
                return r;
        }
        return rpc_tls_identity_set_bundles(s->tls, &set);
}

/* Tell the hub which X.509 CA signs now. Return: 1 when that changed, 0 when not, -errno. */
static int announce_active_ca(Server *s) {
        uint8_t id[CA_KEY_ID_MAX];
        size_t n = 0;
        int r;

        if (!s->hub)
                return 0;
        r = ca_get_active_x509_key_id(s->ca, id, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to read the active X.509 CA's key ID: %m");
        return sync_hub_set_active_x509(s->hub, id, n);
}

int server_tls_start(Server *s, SigilErr *reterr) {
        char dir[4096];
        int r;

        (void) snprintf(dir, sizeof(dir), "%s/tls", s->cfg->data_dir);
        r = rpc_tls_identity_new(dir, &s->tls);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot set up '%s': %s", dir, strerror(-r));
        r = set_tls_bundles(s);
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot load the trust bundle into TLS");
        (void) announce_active_ca(s);
        return server_tls_renew(s, sigil_now_sec(), reterr);
}

int server_tls_tick(Server *s, uint64_t now) {
        SigilErr err = {};
        bool activated = announce_active_ca(s) > 0;
        int r;

        if (!s->tls || (now < s->tls_renew_at && !activated))
                return 0;
        r = server_tls_renew(s, now, &err);
        if (r < 0)
                log_error("Failed to renew the server SVID, retrying soon: %s", err.msg);
        return r;
}

void server_bundle_changed(Server *s) {
        _cleanup_(sigil_bundle_freep) SigilBundle *b = NULL;
        _cleanup_(freep) char *json = NULL;

        if (s->tls && set_tls_bundles(s) < 0)
                log_error("Failed to update the TLS trust bundle");
        if (s->hub && server_bundle_get(s, &b) == 0 && sigil_bundle_to_spiffe_json(b, &json) == 0)
                sync_hub_bundle_changed(s->hub, json);
}
