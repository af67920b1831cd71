/* SPDX-License-Identifier: Apache-2.0 */
/* ca-internal.h - state shared by the CA manager's files (private to daemon/ca/) */
#pragma once

#include <pthread.h>
#include <openssl/x509.h>

#include "ca.h"
#include "sigil/jwtsvid.h"
#include "sigil/x509svid.h"

#define CA_SLOTS_MAX 8
#define CA_BACKDATE_SEC 10              /* notBefore slack for clock skew between hosts */

typedef enum CaSlotKind {
        CA_SLOT_X509,
        CA_SLOT_JWT,
        _CA_SLOT_KIND_MAX,
} CaSlotKind;

typedef enum CaSlotStatus {
        CA_SLOT_PREPARED,
        CA_SLOT_ACTIVE,
        CA_SLOT_OLD,
        _CA_SLOT_STATUS_MAX,
        _CA_SLOT_STATUS_INVALID = -EINVAL,
} CaSlotStatus;

typedef struct CaSlot {
        CaSlotKind kind;
        CaSlotStatus status;
        char id[40];                    /* X.509: slot ID; JWT: the kid */
        EVP_PKEY *key;
        X509 *cert;                     /* X.509 slots: our CA certificate */
        uint64_t not_before;            /* X.509: backdated by CA_BACKDATE_SEC */
        uint64_t not_after;
        uint64_t created_at;            /* when the slot was made: its schedule counts from here */
        SigilX509Issuer *issuer;        /* X.509, made when first needed */
        SigilJwtSigner *signer;         /* JWT, made when first needed */
} CaSlot;

struct Ca {
        CaConfig cfg;                   /* strings owned (strdup'd) */
        pthread_mutex_t lock;
        CaSlot slots[CA_SLOTS_MAX];
        size_t n_slots;
        STACK_OF(X509) *upstream_roots;         /* upstream mode: what the bundle publishes */
        STACK_OF(X509) *upstream_chain;         /* upstream mode: certs between our CA and a root */
};

const char *ca_slot_status_to_string(CaSlotStatus s);
uint64_t ca_slot_lifetime_point(const CaSlot *slot, unsigned num, unsigned den);
CaSlotStatus ca_slot_status_from_string(const char *s);
void ca_slot_clear(CaSlot *slot);

/* ca-slot.c: making new slots */
int ca_slot_make(Ca *ca, CaSlotKind kind, uint64_t now, CaSlot *ret, SigilErr *reterr);
int ca_upstream_load(Ca *ca, SigilErr *reterr);
int ca_upstream_verify(Ca *ca, X509 *cert, uint64_t now, SigilErr *reterr);

/* ca-journal.c: persistence of slots (disk key manager only) */
int ca_journal_load(Ca *ca, uint64_t now, SigilErr *reterr);
int ca_journal_save(Ca *ca, SigilErr *reterr);
