/* SPDX-License-Identifier: Apache-2.0 */
/* cli-entry.h - registration entries in the CLI: building, -data files, spire's text and JSON */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "cli-util.h"
#include "sigil/error.h"

#define CLI_ENTRY_DATA_MAX (16u * 1024u * 1024u)       /* bytes of a -data file */
#define CLI_ENTRY_DATA_ENTRIES_MAX 100000               /* entries in a -data file */

/*
 * AdminEntry messages made here own every field (malloc'd strings, arrays
 * and selectors), exactly as protobuf_c_message_unpack() lays them out, so
 * cli_entry_free() frees both those and entries received from the server.
 */

/* A new, empty entry. Return: the entry, or NULL on OOM. */
AdminEntry *cli_entry_new(void);
AdminEntry *cli_entry_free(AdminEntry *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(AdminEntry *, cli_entry_free)

/* Append @s to the entry's selectors (ownership taken on success). Return: 0 or -ENOMEM. */
int cli_entry_add_selector(AdminEntry *e, AdminSelector *s);

/* Append a copy of @s to a repeated string field. Return: 0 or -ENOMEM. */
int cli_strings_push(char ***items, size_t *n, const char *s);

/* A list of owned entries. */
typedef struct CliEntryList {
        AdminEntry **entries;
        size_t n;
} CliEntryList;

/* Append @e (ownership taken on success). Return: 0 or -ENOMEM. */
int cli_entry_list_push(CliEntryList *l, AdminEntry *e);
void cli_entry_list_done(CliEntryList *l);

/* Sort for display as spire does: by SPIFFE ID, then parent ID, then entry ID; each entry's
 * selectors by type, then value. */
void cli_entries_sort(AdminEntry **entries, size_t n);

/**
 * cli_entries_from_json() - parse a -data file: {"entries": [ {...}, ... ]}
 * @json:       the file's bytes
 * @n_json:     their length
 * @need_id:    true for updates: every entry must carry "entry_id"
 * @ret:        on success, the entries (@ret is overwritten, not appended to)
 * @reterr:     on failure, the reason, naming the entry and key ("entries[2].selectors: ...")
 *
 * Keys are spire's (spiffe_id, parent_id, selectors [{type, value}],
 * x509_svid_ttl, jwt_svid_ttl, dns_names, federates_with, admin,
 * downstream, expires_at, hint, entry_id; "ttl" as spire's older name of
 * x509_svid_ttl; "store_svid" only as false). Unknown and duplicate keys are
 * errors. Every value is validated as the matching command-line flag is.
 *
 * Return: 0, -EINVAL or -ENOMEM.
 */
int cli_entries_from_json(const char *json, size_t n_json, bool need_id, CliEntryList *ret,
                          SigilErr *reterr);

/**
 * cli_entry_to_json() - an entry shaped as spire's protojson of types.Entry
 * @e:          the entry
 *
 * Return: a new JSON object, or NULL on OOM.
 */
json_t *cli_entry_to_json(const AdminEntry *e);

/**
 * cli_entry_print() - an entry in spire's aligned text layout, then a blank line
 * @f:          destination
 * @e:          the entry
 */
void cli_entry_print(FILE *f, const AdminEntry *e);

/* "spiffe://<td>/sigil/server" for the trust domain of @spiffe_id (the parent of -node entries). */
int cli_server_id(const char *spiffe_id, char **ret, SigilErr *reterr);
