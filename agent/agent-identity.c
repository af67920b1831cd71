/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The agent's own identity over its life: reuse the stored SVID at start
 * (join tokens are single use), attest when there is none or it expired,
 * renew it at half-life, and recover when the server refuses it.
 *
 * Recovery: a worker that sees PERMISSION_DENIED or UNAUTHENTICATED only
 * knows "refused" (a Sync stream cut by an eviction says "evicted or
 * banned"). The main thread asks again with an empty BatchNewX509SVID,
 * whose refusal names the cause. Banned: exit 1. Otherwise attest again
 * where the attestor allows it: x509pop always, join_token only with a
 * token this agent has not used; else exit 1 and say what to do.
 *
 * Runs on the main thread only; a->lock guards what the debug API reads.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent-private.h"
#include "fileio.h"
#include "node-attest.h"
#include "sigil/agent.pb-c.h"
#include "sigil/clock.h"
#include "sigil/log.h"
#include "sigil/x509svid.h"

#define SVID_USABLE_MARGIN_SEC 5        /* a stored SVID closer to its end is not worth using */

static void format_time(uint64_t t, char *buf, size_t n) {
        time_t tt = (time_t) t;
        struct tm tm;

        if (!gmtime_r(&tt, &tm) || strftime(buf, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                (void) snprintf(buf, n, "%llu", (unsigned long long) t);
}

/* Make @id (taken) the agent's identity; @bundle (taken, may be NULL) came with it. */
static int install_identity(Agent *a, AgentIdentity *id, SigilBundle *bundle, bool persist) {
        _cleanup_(agent_identity_freep) AgentIdentity *old = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *b = bundle;
        SigilBundle *copy = NULL;
        SigilErr err = {};
        int r;

        if (persist) {
                r = agent_state_store_identity(a->cfg->data_dir, id);
                if (r < 0)
                        log_error_errno(r, "Failed to store the agent SVID in '%s' (a restart "
                                        "will need to attest again): %m", a->cfg->data_dir);
        }
        if (b) {
                r = agent_state_store_bundle(a->cfg->data_dir, b);
                if (r < 0)
                        log_error_errno(r, "Failed to store the bundle in '%s': %m",
                                        a->cfg->data_dir);
                r = server_client_set_bundle(a->sc, b);
                if (r >= 0)
                        r = sigil_bundle_copy(b, &copy);
                if (r >= 0)
                        r = cache_set_bundle(a->cache, copy);
                if (r < 0)
                        return log_error_errno(r, "Failed to install the trust bundle: %m");
        }
        r = server_client_set_svid(a->sc, id->key, id->chain, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to install the agent SVID: %s", err.msg);
        pthread_mutex_lock(&a->lock);
        old = a->identity;
        a->identity = id;
        /* A stored SVID counts from its notBefore; a fresh one from now (see schedule.h). */
        a->renew_at_usec = schedule_renew_at(persist ? MAX(id->not_before, sigil_now_sec()) :
                                                       id->not_before,
                                             id->not_after, sigil_now_usec(),
                                             schedule_random_unit());
        pthread_mutex_unlock(&a->lock);
        backoff_reset(&a->renew_backoff);
        return 0;
}

/* Add the authorities of -trustBundle (PEM) to @bundle (created when NULL). */
static int merge_trust_bundle(Agent *a, SigilBundle **bundle) {
        _cleanup_(sigil_bundle_freep) SigilBundle *file = NULL;
        _cleanup_(freep) char *pem = NULL;
        const char *path = a->cfg->trust_bundle_path;
        SigilErr err = {};
        size_t n;
        int r;

        if (!path)
                return 0;
        r = read_full_file(path, SIGIL_BUNDLE_JSON_MAX, &pem, &n);
        if (r < 0)
                return log_error_errno(r, "Failed to read the trust bundle '%s': %m", path);
        r = sigil_bundle_from_pem(a->cfg->trust_domain, pem, n, &file, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to load the trust bundle '%s': %s", path,
                                       err.msg);
        if (!*bundle) {
                *bundle = TAKE_PTR(file);
                return 0;
        }
        for (int i = 0; i < sk_X509_num(file->x509_authorities); i++) {
                r = sigil_bundle_add_x509_authority(*bundle,
                                                    sk_X509_value(file->x509_authorities, i));
                if (r < 0)
                        return log_oom();
        }
        return 0;
}

static int give_bundle(Agent *a, const SigilBundle *b) {
        SigilBundle *copy = NULL;
        int r;

        r = server_client_set_bundle(a->sc, b);
        if (r >= 0)
                r = sigil_bundle_copy(b, &copy);
        if (r >= 0)
                r = cache_set_bundle(a->cache, copy);
        return r;
}

/* The join token to attest with, or NULL after logging why there is none. */
static const char *usable_join_token(Agent *a, const AgentIdentity *previous, const char *why) {
        const char *token = a->cfg->join_token;
        const char *used = previous ? agent_identity_join_token(previous) : NULL;

        if (!token) {
                log_error("%s, and no attestor is configured: start the agent with a fresh "
                          "-joinToken (from 'sigil-server token generate') or configure "
                          "node_attestor.x509pop", why);
                return NULL;
        }
        if (used && streq(used, token)) {
                log_error("%s, and the join token given (-joinToken) was already used by this "
                          "agent ('%s'): join tokens are single use; start the agent with a "
                          "fresh one (from 'sigil-server token generate')", why,
                          previous->id.str);
                return NULL;
        }
        return token;
}

/* Attest, retrying while the server is unreachable. Return: 0 or AGENT_E_*. */
static int attest(Agent *a, const AgentIdentity *previous, const char *why) {
        Backoff b = BACKOFF_INIT(AGENT_ATTEST_RETRY_MIN_USEC, AGENT_ATTEST_RETRY_MAX_USEC);
        const char *token = NULL;

        if (!agent_config_uses_x509pop(a->cfg)) {
                token = usable_join_token(a, previous, why);
                if (!token)
                        return AGENT_E_FATAL;
        }
        log_info("%s: attesting this node with %s", why, token ? "a join token" : "x509pop");
        for (;;) {
                AgentIdentity *id = NULL;
                SigilBundle *bundle = NULL;
                SigilErr err = {};
                uint64_t delay;
                int r;

                r = node_attest(a->sc, a->cfg, token, &id, &bundle, &err);
                if (r == 0) {
                        log_info("attested: this agent is '%s' (agent SVID serial %s)",
                                 id->id.str, id->serial);
                        pthread_mutex_lock(&a->lock);
                        a->n_attestations++;
                        pthread_mutex_unlock(&a->lock);
                        return install_identity(a, id, bundle, true) < 0 ? AGENT_E_FATAL : 0;
                }
                if (r != SERVER_E_UNAVAILABLE) {
                        log_error("Node attestation failed: %s", err.msg);
                        return AGENT_E_FATAL;
                }
                delay = backoff_next(&b, schedule_random_unit());
                log_warning("cannot attest yet (%s); retrying in %llu ms", err.msg,
                            (unsigned long long) (delay / USEC_PER_MSEC));
                if (agent_wait(a, delay) == AGENT_E_STOP)
                        return AGENT_E_STOP;
        }
}

int agent_identity_establish(Agent *a) {
        _cleanup_(agent_identity_freep) AgentIdentity *stored = NULL;
        _cleanup_(sigil_bundle_freep) SigilBundle *bundle = NULL;
        SigilErr err = {};
        char until[64], why[SIGIL_SPIFFEID_MAX + 128];
        int r;

        r = agent_state_load(a->cfg->data_dir, a->cfg->trust_domain, &stored, &bundle, &err);
        if (r < 0) {
                log_error("Failed to load the agent's state: %s", err.msg);
                return AGENT_E_FATAL;
        }
        if (merge_trust_bundle(a, &bundle) < 0)
                return AGENT_E_FATAL;
        if (bundle && give_bundle(a, bundle) < 0) {
                log_oom();
                return AGENT_E_FATAL;
        }
        if (stored && stored->not_after > sigil_now_sec() + SVID_USABLE_MARGIN_SEC) {
                format_time(stored->not_after, until, sizeof(until));
                log_info("using the stored agent SVID: this agent is '%s' (serial %s, valid "
                         "until %s)", stored->id.str, stored->serial, until);
                return install_identity(a, TAKE_PTR(stored), NULL, false) < 0 ? AGENT_E_FATAL : 0;
        }
        if (stored) {
                format_time(stored->not_after, until, sizeof(until));
                (void) snprintf(why, sizeof(why), "the stored SVID of agent '%s' expired (%s)",
                                stored->id.str, until);
        } else
                (void) snprintf(why, sizeof(why), "no agent identity in '%s'",
                                a->cfg->data_dir);
        return attest(a, stored, why);
}

uint64_t agent_identity_next_usec(Agent *a) {
        uint64_t t;

        pthread_mutex_lock(&a->lock);
        t = a->renew_at_usec;
        pthread_mutex_unlock(&a->lock);
        return t;
}

int agent_identity_tick(Agent *a) {
        _cleanup_(sigil_bundle_freep) SigilBundle *bundle = NULL;
        AgentIdentity *id = NULL;
        uint64_t now = sigil_now_usec(), delay;
        SigilErr err = {};
        int r;

        if (now < agent_identity_next_usec(a))
                return 0;
        if (a->identity->not_after * USEC_PER_SEC <= now)
                return agent_identity_recover(a, "the agent SVID expired before it could be "
                                                 "renewed");
        r = node_renew(a->sc, a->cfg->trust_domain, a->identity, &id, &bundle, &err);
        if (r == 0) {
                log_info("renewed the agent SVID (serial %s, was %s)", id->serial,
                         a->identity->serial);
                r = install_identity(a, id, TAKE_PTR(bundle), true);
                if (r < 0)
                        return AGENT_E_FATAL;
                /* Present the new SVID on a new stream: the server then makes it current. */
                sync_client_reconnect(a->sync);
                return 0;
        }
        if (r == SERVER_E_DENIED)
                return agent_identity_recover(a, err.msg);
        delay = backoff_next(&a->renew_backoff, schedule_random_unit());
        log_warning("cannot renew the agent SVID yet (%s); retrying in %llu ms", err.msg,
                    (unsigned long long) (delay / USEC_PER_MSEC));
        pthread_mutex_lock(&a->lock);
        a->renew_at_usec = MIN(now + delay, a->identity->not_after * USEC_PER_SEC);
        pthread_mutex_unlock(&a->lock);
        return 0;
}

/* Ask the server what it thinks of our identity. Return: 0 (accepted) or SERVER_E_*. */
static int probe_identity(Agent *a, SigilErr *reterr) {
        Sigil__Agent__V1__BatchNewX509SVIDRequest req =
                SIGIL__AGENT__V1__BATCH_NEW_X509_SVIDREQUEST__INIT;
        _cleanup_(protobuf_c_message_freep) ProtobufCMessage *resp = NULL;

        if (a->identity->not_after <= sigil_now_sec())
                return sigil_err_set(reterr, SERVER_E_DENIED, "the agent SVID expired");
        return server_client_call(a->sc, false, "/sigil.agent.v1.Node/BatchNewX509SVID",
                                  &req.base,
                                  &sigil__agent__v1__batch_new_x509_svidresponse__descriptor,
                                  &resp, reterr);
}

/* Probe until the server answers. Return: 0 (accepted), SERVER_E_DENIED or AGENT_E_STOP. */
static int probe_until_answered(Agent *a, char *reason, size_t n_reason) {
        Backoff b = BACKOFF_INIT(AGENT_ATTEST_RETRY_MIN_USEC, AGENT_ATTEST_RETRY_MAX_USEC);

        for (;;) {
                SigilErr err = {};
                int r = probe_identity(a, &err);

                if (r == 0)
                        return 0;
                if (r == SERVER_E_DENIED || r < 0) {
                        if (err.msg[0])
                                (void) snprintf(reason, n_reason, "%s", err.msg);
                        return SERVER_E_DENIED;
                }
                if (agent_wait(a, backoff_next(&b, schedule_random_unit())) == AGENT_E_STOP)
                        return AGENT_E_STOP;
        }
}

int agent_identity_recover(Agent *a, const char *first_reason) {
        char reason[AGENT_REJECT_REASON_MAX], why[AGENT_REJECT_REASON_MAX + SIGIL_SPIFFEID_MAX];
        int r;

        (void) snprintf(reason, sizeof(reason), "%s", first_reason);
        r = probe_until_answered(a, reason, sizeof(reason));
        if (r == AGENT_E_STOP)
                return r;
        if (r == 0) {
                log_info("sigil-server accepts agent '%s' again", a->identity->id.str);
                sync_client_resume(a->sync);
                rotator_wake(a->rotator, true);
                return 0;
        }
        if (strstr(reason, "is banned")) {
                log_error("sigil-server banned agent '%s' (%s): it cannot attest again; an "
                          "operator must evict it first ('sigil-server agent evict')",
                          a->identity->id.str, reason);
                return AGENT_E_FATAL;
        }
        (void) snprintf(why, sizeof(why), "sigil-server no longer accepts agent '%s' (%s)",
                        a->identity->id.str, reason);
        log_warning("%s", why);
        r = attest(a, a->identity, why);
        if (r != 0)
                return r;
        sync_client_resume(a->sync);
        rotator_wake(a->rotator, true);
        return 0;
}
