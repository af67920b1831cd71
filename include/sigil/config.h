/* SPDX-License-Identifier: Apache-2.0 */
/* sigil config.h - table-driven JSON configuration files */
#pragma once

#include <stddef.h>
#include <jansson.h>

#include "sigil/error.h"

#define SIGIL_CONFIG_FILE_MAX (1024u * 1024u)
#define SIGIL_CONFIG_PATH_MAX 256

typedef struct SigilConfigItem SigilConfigItem;

/*
 * Parses @value (found at key path @path, e.g. "server.bind_port") into the
 * field at @field. Returns 0 or -EINVAL with a message in @reterr; the
 * message need not repeat @path, the caller prefixes it.
 */
typedef int (*SigilConfigParser)(const char *path, json_t *value, void *field, SigilErr *reterr);

/*
 * One row of a config table: the JSON key, and either a parser for a field
 * at @offset, or a nested table for an object-valued key (@section; the
 * nested fields are then relative to the same target plus @offset).
 */
struct SigilConfigItem {
        const char *key;
        SigilConfigParser parse;
        size_t offset;
        const SigilConfigItem *section;
};

/**
 * sigil_config_load_file() - read a JSON config file
 * @path:       file path
 * @ret:        on success, the top-level object
 * @reterr:     on failure, "<path>:<line>:<column>: <reason>" or the I/O error
 *
 * Duplicate keys are rejected; the top level must be an object.
 *
 * Return: 0, -EINVAL or negative errno.
 */
int sigil_config_load_file(const char *path, json_t **ret, SigilErr *reterr);

/**
 * sigil_config_apply() - parse an object against a table into @target
 * @table:      rows, ended by a row with key NULL
 * @obj:        a JSON object
 * @prefix:     key path of @obj ("" at the top)
 * @target:     struct the offsets refer to
 * @reterr:     on failure, "<key path>: <reason>"; unknown keys are errors
 *
 * Return: 0 or -EINVAL.
 */
int sigil_config_apply(const SigilConfigItem *table, json_t *obj, const char *prefix, void *target,
                       SigilErr *reterr);

/* Field parsers for the common types. */
int sigil_config_parse_string(const char *path, json_t *v, void *field, SigilErr *reterr);     /* char * (strdup) */
int sigil_config_parse_bool(const char *path, json_t *v, void *field, SigilErr *reterr);       /* bool */
int sigil_config_parse_int(const char *path, json_t *v, void *field, SigilErr *reterr);        /* int64_t */
int sigil_config_parse_port(const char *path, json_t *v, void *field, SigilErr *reterr);       /* uint16_t, 1..65535 */
int sigil_config_parse_duration(const char *path, json_t *v, void *field, SigilErr *reterr);   /* uint64_t usec; "1h" or seconds */
int sigil_config_parse_strv(const char *path, json_t *v, void *field, SigilErr *reterr);       /* char ** */
int sigil_config_parse_log_level(const char *path, json_t *v, void *field, SigilErr *reterr);  /* SigilLogLevel */
int sigil_config_parse_log_format(const char *path, json_t *v, void *field, SigilErr *reterr); /* SigilLogFormat */
int sigil_config_parse_key_type(const char *path, json_t *v, void *field, SigilErr *reterr);   /* SigilKeyType */
int sigil_config_parse_trust_domain(const char *path, json_t *v, void *field, SigilErr *reterr); /* char * */
