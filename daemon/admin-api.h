/* SPDX-License-Identifier: Apache-2.0 */
/* admin-api.h - helpers shared by the admin API's service files */
#pragma once

#include <stdbool.h>

#include "rpc-server.h"
#include "server-state.h"
#include "sigil/admin.pb-c.h"

#define ADMIN_CALLER_MAX 64
#define ADMIN_BATCH_MAX 1000            /* entries per batch request */

/**
 * admin_authorize() - check the caller of an admin call; refuse it if not allowed
 * @call:       the call
 * @s:          the server
 * @caller:     on success, "uid=N pid=N" for audit lines
 * @n_caller:   size of @caller
 *
 * Answers PERMISSION_DENIED itself when the caller is refused.
 *
 * Return: true when the call may proceed.
 */
bool admin_authorize(RpcCall *call, Server *s, char *caller, size_t n_caller);

/* Map a negative errno or a DS_E_* outcome to a gRPC status code. */
grpc_status_code admin_status_from_error(int r);

/*
 * The one-word audit result for the same outcome: "ok", "denied", "failed" (our fault: the
 * datastore, memory) or "refused" (the request's fault); the reason goes in reason='...'.
 */
const char *admin_audit_result(int r);

/*
 * The page size of a List request (0 asks for DS_PAGE_SIZE_DEFAULT) into @ret; answers
 * INVALID_ARGUMENT itself when it is out of range. Return: true when the call may proceed.
 */
bool admin_page_size(RpcCall *call, int32_t page_size, size_t *ret);

/* The method tables of each service file. */
extern const RpcMethod admin_entry_methods[];
extern const size_t admin_entry_n_methods;
extern const RpcMethod admin_agent_methods[];
extern const size_t admin_agent_n_methods;
extern const RpcMethod admin_bundle_methods[];
extern const size_t admin_bundle_n_methods;

/* Entry <-> proto conversions (admin-api-entry.c). */
int admin_entry_from_proto(const Sigil__Admin__V1__Entry *p, Entry **ret, SigilErr *reterr);
int admin_entry_to_proto(const Entry *e, Sigil__Admin__V1__Entry **ret);
void admin_entry_proto_free(Sigil__Admin__V1__Entry *p);
