/* SPDX-License-Identifier: Apache-2.0 */
/* agent-private.h - the running agent, shared by agent.c and agent-identity.c only */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "agent-state.h"
#include "agent.h"
#include "cache-internal.h"
#include "rotator.h"
#include "schedule.h"
#include "server-client.h"
#include "sync-client.h"

#define AGENT_REJECT_REASON_MAX 512
#define AGENT_RENEW_RETRY_MIN_USEC (1 * USEC_PER_SEC)
#define AGENT_RENEW_RETRY_MAX_USEC (30 * USEC_PER_SEC)
#define AGENT_ATTEST_RETRY_MIN_USEC (1 * USEC_PER_SEC)
#define AGENT_ATTEST_RETRY_MAX_USEC (30 * USEC_PER_SEC)

struct Agent {
        AgentConfig *cfg;
        int lock_fd;                    /* flock of <data_dir>/agent.lock */
        int signal_fd;                  /* SIGTERM, SIGINT, SIGHUP */
        int event_fd;                   /* wakes the main loop (a rejection) */
        Cache *cache;
        ServerClient *sc;
        SyncClient *sync;
        Rotator *rotator;
        void **service_states;          /* by row of agent_services[] */
        size_t *services_started;       /* rows, in the order they started */
        size_t n_services_started;
        Backoff renew_backoff;          /* main thread only */

        pthread_mutex_t lock;           /* guards what follows */
        AgentIdentity *identity;
        uint64_t renew_at_usec;         /* wall clock */
        unsigned n_attestations;
        bool rejected;                  /* the server refused our identity; main loop acts */
        char reject_reason[AGENT_REJECT_REASON_MAX];
        bool stopping;
};

/* Outcomes of the identity steps besides 0 (the reason was logged). */
enum {
        AGENT_E_STOP = 1,               /* a signal asked us to stop while we waited */
        AGENT_E_FATAL,                  /* cannot go on: exit with status 1 */
};

/*
 * Wait up to @usec for a signal or an event. Return: 0 (timeout or event),
 * AGENT_E_STOP (SIGTERM/SIGINT).
 */
int agent_wait(Agent *a, uint64_t usec);

/* Note a rejection from a worker thread and wake the main loop. */
void agent_note_rejected(void *userdata, const char *reason);

/* agent-identity.c: startup (stored identity or attestation). Return: 0, AGENT_E_*. */
int agent_identity_establish(Agent *a);

/* agent-identity.c: renew the agent SVID if due. Return: 0, AGENT_E_*. */
int agent_identity_tick(Agent *a);

/* agent-identity.c: act on a rejection noted by a worker. Return: 0, AGENT_E_*. */
int agent_identity_recover(Agent *a, const char *reason);

/* When agent_identity_tick() wants to run next (wall clock, microseconds). */
uint64_t agent_identity_next_usec(Agent *a);
