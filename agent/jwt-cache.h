/* SPDX-License-Identifier: Apache-2.0 */
/* jwt-cache.h - JWT-SVIDs the agent minted, kept per (entry, revision, audience set) */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "sigil/error.h"
#include "workload-api.h"

/*
 * A JWT-SVID is reused while less than half of its lifetime has passed;
 * after that the next request mints a new one. Tokens are keyed by entry
 * ID, entry revision (an updated entry never reuses an old token) and the
 * sorted, de-duplicated audience set. Tokens are secrets: wiped when dropped.
 */

typedef struct JwtCache JwtCache;

#define JWT_CACHE_MAX 16384

int jwt_cache_new(size_t max, JwtCache **ret);
JwtCache *jwt_cache_free(JwtCache *c);

/**
 * jwt_cache_get() - a fresh JWT-SVID for an entry and audiences, minted when needed
 * @c:          cache
 * @entry_id:   the entry
 * @revision:   its revision
 * @aud:        audiences (at least one)
 * @n_aud:      their number
 * @now:        unix seconds
 * @mint:       how to mint one (through the server)
 * @userdata:   for @mint
 * @ret_token:  on success, a malloc'd copy of the token
 * @reterr:     on failure, the reason
 *
 * Return: 0 or the negative errno of @mint.
 */
int jwt_cache_get(JwtCache *c, const char *entry_id, int64_t revision, const char *const *aud,
                  size_t n_aud, uint64_t now, WorkloadMintJwtFn mint, void *userdata,
                  char **ret_token, SigilErr *reterr);
