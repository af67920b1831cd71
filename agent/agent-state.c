/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's identity and its files (agent-state.h). Everything read back
 * from the data directory is parsed as strictly as what comes off the
 * network: only CERTIFICATE and PRIVATE KEY blocks, the key must match the
 * leaf, and the leaf must be an agent ID of our trust domain.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent-state.h"
#include "fileio.h"
#include "sigil/keys.h"
#include "sigil/x509svid.h"
#include "ssl-util.h"

#define AGENT_PATH_PREFIX "/sigil/agent/"

AgentIdentity *agent_identity_free(AgentIdentity *a) {
        if (!a)
                return NULL;
        EVP_PKEY_free(a->key);
        sk_X509_pop_free(a->chain, X509_free);
        free(a);
        return NULL;
}

static AgentAttestation attestation_of(const SigilSpiffeId *id, const char *trust_domain) {
        const char *path = sigil_spiffeid_path(id);
        static const struct {
                const char *prefix;
                AgentAttestation type;
        } kinds[] = {
                { AGENT_PATH_PREFIX "join_token/", AGENT_ATTESTATION_JOIN_TOKEN },
                { AGENT_PATH_PREFIX "x509pop/", AGENT_ATTESTATION_X509POP },
        };

        if (!sigil_spiffeid_member_of(id, trust_domain))
                return _AGENT_ATTESTATION_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(kinds); i++) {
                size_t n = strlen(kinds[i].prefix);

                if (strncmp(path, kinds[i].prefix, n) == 0 && path[n] != '\0' &&
                    !strchr(path + n, '/'))
                        return kinds[i].type;
        }
        return _AGENT_ATTESTATION_INVALID;
}

int agent_identity_new(const char *trust_domain, EVP_PKEY *key, STACK_OF(X509) *chain,
                       const char *expected_id, AgentIdentity **ret, SigilErr *reterr) {
        _cleanup_(agent_identity_freep) AgentIdentity *a = NULL;
        X509 *leaf;
        int r;

        if (!key || !chain || sk_X509_num(chain) < 1)
                return sigil_err_set(reterr, -EINVAL, "no agent SVID");
        a = new0(AgentIdentity, 1);
        if (!a)
                return -ENOMEM;
        leaf = sk_X509_value(chain, 0);
        r = sigil_x509_spiffe_id(leaf, &a->id, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "agent SVID");
        a->attestation = attestation_of(&a->id, trust_domain);
        if (a->attestation < 0)
                return sigil_err_set(reterr, -EINVAL,
                                     "'%s' is not an agent ID of trust domain '%s'", a->id.str,
                                     trust_domain);
        if (expected_id && !streq(a->id.str, expected_id))
                return sigil_err_set(reterr, -EINVAL,
                                     "agent SVID is for '%s', the server announced '%s'",
                                     a->id.str, expected_id);
        if (sigil_key_public_equal(X509_get0_pubkey(leaf), key) != 1)
                return sigil_err_set(reterr, -EINVAL, "agent SVID does not match its key");
        if (sigil_x509_serial_hex(leaf, a->serial, sizeof(a->serial)) < 0)
                return sigil_err_set(reterr, -EINVAL, "agent SVID has an unusable serial number");
        a->not_before = sigil_x509_not_before(leaf);
        a->not_after = sigil_x509_not_after(leaf);
        if (EVP_PKEY_up_ref(key) != 1)
                return -ENOMEM;
        a->key = key;
        a->chain = chain;
        *ret = TAKE_PTR(a);
        return 0;
}

const char *agent_identity_join_token(const AgentIdentity *a) {
        const char *path = sigil_spiffeid_path(&a->id);

        if (a->attestation != AGENT_ATTESTATION_JOIN_TOKEN)
                return NULL;
        return path + strlen(AGENT_PATH_PREFIX "join_token/");
}

static void data_path(char *buf, size_t n, const char *dir, const char *file) {
        (void) snprintf(buf, n, "%s/%s", dir, file);
}

/* Split the SVID file: CERTIFICATE blocks into @chain, the one PRIVATE KEY into @ret_key. */
static int parse_svid_file(const char *text, size_t n, STACK_OF(X509) *chain, EVP_PKEY **ret_key,
                           SigilErr *reterr) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new_mem_buf(text, (int) n);
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        int r;

        if (!bio)
                return -ENOMEM;
        for (;;) {
                _cleanup_(pem_block_done) PemBlock b = {};
                const unsigned char *p;
                X509 *cert;

                r = pem_read_strict(bio, true, &b);
                if (r == 0)
                        break;
                if (r < 0)
                        return sigil_err_set(reterr, -EINVAL, "malformed PEM");
                if (streq(b.name, "PRIVATE KEY")) {
                        if (key)
                                return sigil_err_set(reterr, -EINVAL, "more than one key");
                        r = sigil_key_from_pkcs8_der(b.data, (size_t) b.n_data, &key);
                        if (r < 0)
                                return sigil_err_set(reterr, r, "unusable private key");
                        continue;
                }
                if (!streq(b.name, "CERTIFICATE") || sk_X509_num(chain) >= SIGIL_X509_CHAIN_MAX)
                        return sigil_err_set(reterr, -EINVAL, "unexpected PEM block '%s'", b.name);
                p = b.data;
                cert = d2i_X509(NULL, &p, b.n_data);
                if (!cert || p != b.data + b.n_data || !sk_X509_push(chain, cert)) {
                        X509_free(cert);
                        ERR_clear_error();
                        return sigil_err_set(reterr, -EINVAL, "malformed certificate");
                }
        }
        if (!key || sk_X509_num(chain) == 0)
                return sigil_err_set(reterr, -EINVAL, "needs a certificate chain and a key");
        *ret_key = TAKE_PTR(key);
        return 0;
}

static int load_identity(const char *data_dir, const char *td, AgentIdentity **ret,
                         SigilErr *reterr) {
        _cleanup_(sk_X509_pop_freep) STACK_OF(X509) *chain = sk_X509_new_null();
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        char path[4096], *text = NULL;
        size_t n = 0;
        int r;

        data_path(path, sizeof(path), data_dir, AGENT_STATE_SVID_FILE);
        if (!chain)
                return -ENOMEM;
        r = read_full_file(path, AGENT_STATE_FILE_MAX, &text, &n);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read '%s': %s", path, strerror(-r));
        r = parse_svid_file(text, n, chain, &key, reterr);
        clear_free(text, n);
        if (r == 0)
                r = agent_identity_new(td, key, chain, NULL, ret, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "'%s'", path);
        TAKE_PTR(chain);
        return 0;
}

static int load_bundle(const char *data_dir, const char *td, SigilBundle **ret,
                       SigilErr *reterr) {
        _cleanup_(freep) char *json = NULL;
        char path[4096];
        size_t n = 0;
        int r;

        data_path(path, sizeof(path), data_dir, AGENT_STATE_BUNDLE_FILE);
        r = read_full_file(path, SIGIL_BUNDLE_JSON_MAX, &json, &n);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return sigil_err_set(reterr, r, "cannot read '%s': %s", path, strerror(-r));
        r = sigil_bundle_from_spiffe_json(td, json, n, ret, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, r, "'%s'", path);
        return 0;
}

int agent_state_load(const char *data_dir, const char *trust_domain,
                     AgentIdentity **ret_identity, SigilBundle **ret_bundle, SigilErr *reterr) {
        _cleanup_(agent_identity_freep) AgentIdentity *a = NULL;
        SigilBundle *b = NULL;
        int r;

        r = load_identity(data_dir, trust_domain, &a, reterr);
        if (r < 0)
                return r;
        r = load_bundle(data_dir, trust_domain, &b, reterr);
        if (r < 0)
                return r;
        *ret_identity = TAKE_PTR(a);
        *ret_bundle = b;
        return 0;
}

int agent_state_store_identity(const char *data_dir, const AgentIdentity *a) {
        _cleanup_(freep) char *chain = NULL;
        char path[4096], *key = NULL, *all;
        size_t n_chain, n_key;
        int r;

        r = sigil_x509_chain_to_pem(a->chain, &chain);
        if (r < 0)
                return r;
        r = sigil_key_to_pkcs8_pem(a->key, &key);
        if (r < 0)
                return r;
        n_chain = strlen(chain);
        n_key = strlen(key);
        all = malloc(n_chain + n_key + 1);
        if (all) {
                memcpy(all, chain, n_chain);
                memcpy(all + n_chain, key, n_key + 1);
        }
        clear_free(key, n_key);
        if (!all)
                return -ENOMEM;
        data_path(path, sizeof(path), data_dir, AGENT_STATE_SVID_FILE);
        r = write_file_atomic(path, all, n_chain + n_key, 0600);
        clear_free(all, n_chain + n_key);
        return r;
}

int agent_state_store_bundle(const char *data_dir, const SigilBundle *b) {
        _cleanup_(freep) char *json = NULL;
        char path[4096];
        int r;

        r = sigil_bundle_to_spiffe_json(b, &json);
        if (r < 0)
                return r;
        data_path(path, sizeof(path), data_dir, AGENT_STATE_BUNDLE_FILE);
        return write_file_atomic(path, json, strlen(json), 0600);
}

int agent_state_remove_identity(const char *data_dir) {
        char path[4096];

        data_path(path, sizeof(path), data_dir, AGENT_STATE_SVID_FILE);
        if (unlink(path) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}
