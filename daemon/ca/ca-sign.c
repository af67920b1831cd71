/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signing requests the CA accepts. Each function re-checks its policy
 * (trust domain, path, TTL caps, DNS names, key types, audience shape)
 * before touching a key: the API layer's checks are not trusted here.
 */
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#include "ca-internal.h"
#include "entry.h"
#include "sigil/clock.h"
#include "sigil/csr.h"
#include "ssl-util.h"

#define CA_AUDIENCES_MAX 64
#define CA_AUDIENCE_LEN_MAX 1024

_Static_assert(sizeof(((CaChain *) NULL)->serial) >= SIGIL_X509_SERIAL_HEX_MAX,
               "CaChain.serial holds a serial's hex");

void ca_chain_done(CaChain *chain) {
        for (size_t i = 0; i < chain->n; i++)
                free(chain->der[i]);
        *chain = (CaChain) {};
}

static int check_svid_id(Ca *ca, const char *s, SigilSpiffeId *ret, SigilErr *reterr) {
        int r;

        r = sigil_spiffeid_from_string(s ? s : "", ret, reterr);
        if (r < 0)
                return sigil_err_prefix(reterr, -EINVAL, "invalid SPIFFE ID");
        if (!sigil_spiffeid_member_of(ret, ca->cfg.trust_domain))
                return sigil_err_set(reterr, -EINVAL, "'%s' is not in trust domain '%s'", s,
                                     ca->cfg.trust_domain);
        if (sigil_spiffeid_is_root(ret))
                return sigil_err_set(reterr, -EINVAL, "an SVID's SPIFFE ID must have a path");
        return 0;
}

static uint64_t effective_ttl(uint64_t requested, uint64_t dflt) {
        uint64_t ttl = requested ? requested : dflt;

        return MIN(ttl, (uint64_t) CA_SVID_TTL_MAX_SEC);
}

static int append_der(CaChain *chain, X509 *cert) {
        unsigned char *der = NULL;
        int n;

        if (chain->n >= ELEMENTSOF(chain->der))
                return -E2BIG;
        n = i2d_X509(cert, &der);
        if (n <= 0)
                return -ENOMEM;
        chain->der[chain->n] = malloc((size_t) n);
        if (!chain->der[chain->n]) {
                OPENSSL_free(der);
                return -ENOMEM;
        }
        memcpy(chain->der[chain->n], der, (size_t) n);
        chain->n_der[chain->n++] = (size_t) n;
        OPENSSL_free(der);
        return 0;
}

/* The active X.509 slot with its issuer ready; lock held. */
static int active_issuer(Ca *ca, CaSlot **ret, SigilErr *reterr) {
        CaSlot *s = NULL;
        int r;

        for (size_t i = 0; i < ca->n_slots; i++)
                if (ca->slots[i].kind == CA_SLOT_X509 && ca->slots[i].status == CA_SLOT_ACTIVE)
                        s = &ca->slots[i];
        if (!s)
                return sigil_err_set(reterr, -EAGAIN, "no active X.509 CA");
        if (!s->issuer) {
                r = sigil_x509_issuer_new(s->cert, s->key, &s->issuer, reterr);
                if (r < 0)
                        return r;
        }
        *ret = s;
        return 0;
}

/* The issuer tells what it wrote: parsing the leaf back would cost more than signing it. */
static int sign_leaf_locked(Ca *ca, const SigilLeafParams *p, const uint8_t *spki,
                            size_t n_spki, CaChain *chain, SigilErr *reterr) {
        SigilLeafInfo info;
        uint8_t *der = NULL;
        CaSlot *slot = NULL;
        size_t n_der;
        int r;

        r = active_issuer(ca, &slot, reterr);
        if (r < 0)
                return r;
        r = sigil_x509_issuer_sign_spki_full(slot->issuer, spki, n_spki, p, &der, &n_der, &info,
                                             reterr);
        if (r < 0)
                return r;
        chain->der[0] = der;
        chain->n_der[0] = n_der;
        chain->n = 1;
        chain->expires_at = info.not_after;
        memcpy(chain->serial, info.serial, sizeof(info.serial));
        if (!ca->cfg.upstream_cert_path)
                return 0;
        r = append_der(chain, slot->cert);
        for (int i = 0; r >= 0 && i < sk_X509_num(ca->upstream_chain); i++)
                r = append_der(chain, sk_X509_value(ca->upstream_chain, i));
        return r;
}

int ca_sign_x509_svid(Ca *ca, const CaX509Request *req, CaChain *ret, SigilErr *reterr) {
        _cleanup_(sigil_csr_freep) SigilCsr *csr = NULL;
        CaChain chain = {};
        SigilSpiffeId id;
        SigilLeafParams p;
        const uint8_t *spki = req->spki;
        size_t n_spki = req->n_spki;
        uint64_t now = sigil_now_sec();
        int r;

        r = check_svid_id(ca, req->spiffe_id, &id, reterr);
        if (r < 0)
                return r;
        if (req->n_dns_names > SIGIL_X509_DNS_NAMES_MAX)
                return sigil_err_set(reterr, -EINVAL, "too many DNS names");
        for (size_t i = 0; i < req->n_dns_names; i++)
                if (dns_name_validate(req->dns_names[i], reterr) < 0)
                        return sigil_err_prefix(reterr, -EINVAL, "DNS name '%s'",
                                                req->dns_names[i]);
        if (req->csr) {
                r = sigil_csr_parse(req->csr, req->n_csr, &csr, reterr);
                if (r < 0)
                        return sigil_err_prefix(reterr, r, "CSR refused");
                spki = csr->spki;
                n_spki = csr->n_spki;
        }
        if (!spki || n_spki == 0)
                return sigil_err_set(reterr, -EINVAL, "no public key to certify");

        p = (SigilLeafParams) {
                .id = &id,
                .dns_names = req->dns_names,
                .n_dns_names = req->n_dns_names,
                .not_before = now - CA_BACKDATE_SEC,
                .not_after = now + effective_ttl(req->ttl_sec, ca->cfg.default_x509_ttl_sec),
        };
        pthread_mutex_lock(&ca->lock);
        r = sign_leaf_locked(ca, &p, spki, n_spki, &chain, reterr);
        pthread_mutex_unlock(&ca->lock);
        if (r < 0) {
                ca_chain_done(&chain);
                return r;
        }
        *ret = chain;
        return 0;
}

static int check_audiences(const char *const *aud, size_t n_aud, SigilErr *reterr) {
        if (n_aud == 0)
                return sigil_err_set(reterr, -EINVAL, "at least one audience is required");
        if (n_aud > CA_AUDIENCES_MAX)
                return sigil_err_set(reterr, -EINVAL, "too many audiences");
        for (size_t i = 0; i < n_aud; i++)
                if (isempty(aud[i]) || strlen(aud[i]) > CA_AUDIENCE_LEN_MAX)
                        return sigil_err_set(reterr, -EINVAL, "audience %zu is empty or too long",
                                             i);
        return 0;
}

static int jwt_sign_locked(Ca *ca, const SigilJwtClaims *claims, char **ret_token,
                           uint64_t *ret_expires, SigilErr *reterr) {
        SigilJwtClaims c = *claims;
        CaSlot *s = NULL;
        int r;

        for (size_t i = 0; i < ca->n_slots; i++)
                if (ca->slots[i].kind == CA_SLOT_JWT && ca->slots[i].status == CA_SLOT_ACTIVE)
                        s = &ca->slots[i];
        if (!s)
                return sigil_err_set(reterr, -EAGAIN, "no active JWT signing key");
        if (!s->signer) {
                SigilKeyType t;
                SigilJwtAlg alg;

                r = sigil_key_type_of(s->key, &t);
                if (r < 0)
                        return sigil_err_set(reterr, r, "unsupported JWT key");
                alg = t == SIGIL_KEY_EC_P256 ? SIGIL_JWT_ES256 :
                      t == SIGIL_KEY_EC_P384 ? SIGIL_JWT_ES384 : SIGIL_JWT_RS256;
                r = sigil_jwt_signer_new(s->key, s->id, alg, &s->signer, reterr);
                if (r < 0)
                        return r;
        }
        c.exp = MIN(c.exp, s->not_after);       /* never outlive the key */
        r = sigil_jwt_signer_sign(s->signer, &c, ret_token, reterr);
        if (r < 0)
                return r;
        *ret_expires = c.exp;
        return 0;
}

int ca_sign_jwt_svid(Ca *ca, const char *spiffe_id, const char *const *aud, size_t n_aud,
                     uint64_t ttl_sec, char **ret_token, uint64_t *ret_expires,
                     SigilErr *reterr) {
        _cleanup_(json_decrefp) json_t *extra = NULL;
        uint64_t now = sigil_now_sec();
        SigilSpiffeId id;
        SigilJwtClaims claims;
        int r;

        r = check_svid_id(ca, spiffe_id, &id, reterr);
        if (r < 0)
                return r;
        r = check_audiences(aud, n_aud, reterr);
        if (r < 0)
                return r;
        if (ca->cfg.jwt_issuer) {
                extra = json_pack("{s:s}", "iss", ca->cfg.jwt_issuer);
                if (!extra)
                        return -ENOMEM;
        }
        claims = (SigilJwtClaims) {
                .sub = &id,
                .aud = aud,
                .n_aud = n_aud,
                .iat = now,
                .exp = now + effective_ttl(ttl_sec, ca->cfg.default_jwt_ttl_sec),
                .extra = extra,
        };
        pthread_mutex_lock(&ca->lock);
        r = jwt_sign_locked(ca, &claims, ret_token, ret_expires, reterr);
        pthread_mutex_unlock(&ca->lock);
        return r;
}
