/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven JSON configuration. A daemon describes its config as rows
 * (key, parser, offset) and sigil_config_apply() walks an object against
 * them: unknown keys are errors, and every error names the key path so an
 * operator knows exactly what to fix.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fileio.h"
#include "json-util.h"
#include "sigil/config.h"
#include "sigil/duration.h"
#include "sigil/keys.h"
#include "sigil/log.h"
#include "sigil/spiffeid.h"

int sigil_config_load_file(const char *path, json_t **ret, SigilErr *reterr) {
        _cleanup_(freep) char *text = NULL;
        json_error_t jerr;
        json_t *root;
        size_t n;
        int r;

        r = read_full_file(path, SIGIL_CONFIG_FILE_MAX, &text, &n);
        if (r == -EFBIG)
                return sigil_err_set(reterr, -EINVAL, "%s: larger than %u bytes", path,
                                     SIGIL_CONFIG_FILE_MAX);
        if (r < 0)
                return sigil_err_set(reterr, r, "%s: %s", path, strerror(-r));
        if (memchr(text, '\0', n))
                return sigil_err_set(reterr, -EINVAL, "%s: contains a NUL byte", path);

        root = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
        if (!root)
                return sigil_err_set(reterr, -EINVAL, "%s:%d:%d: %s", path, jerr.line,
                                     jerr.column, jerr.text);
        if (!json_is_object(root)) {
                json_decref(root);
                return sigil_err_set(reterr, -EINVAL, "%s: the top level must be a JSON object",
                                     path);
        }
        *ret = root;
        return 0;
}

static const SigilConfigItem *config_find(const SigilConfigItem *table, const char *key) {
        for (const SigilConfigItem *i = table; i->key; i++)
                if (streq(i->key, key))
                        return i;
        return NULL;
}

int sigil_config_apply(const SigilConfigItem *table, json_t *obj, const char *prefix, void *target,
                       SigilErr *reterr) {
        const char *key;
        json_t *value;

        if (!json_is_object(obj))
                return sigil_err_set(reterr, -EINVAL, "%s: expected an object",
                                     isempty(prefix) ? "(top level)" : prefix);

        json_object_foreach(obj, key, value) {
                char path[SIGIL_CONFIG_PATH_MAX];
                const SigilConfigItem *item = config_find(table, key);
                int k, r;

                k = snprintf(path, sizeof(path), "%s%s%s", isempty(prefix) ? "" : prefix,
                             isempty(prefix) ? "" : ".", key);
                if (k < 0 || (size_t) k >= sizeof(path))
                        return sigil_err_set(reterr, -EINVAL, "%s...: key path is too long",
                                             path);
                if (!item)
                        return sigil_err_set(reterr, -EINVAL, "%s: unknown key", path);
                if (item->section)
                        r = sigil_config_apply(item->section, value, path,
                                               (uint8_t *) target + item->offset, reterr);
                else {
                        r = item->parse(path, value, (uint8_t *) target + item->offset, reterr);
                        if (r < 0)
                                return sigil_err_prefix(reterr, r, "%s", path);
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The text of a JSON string, or NULL when @v is not a string or holds a NUL (\u0000). */
static const char *string_value(json_t *v) {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v))
                return NULL;
        return json_string_value(v);
}

int sigil_config_parse_string(const char *path, json_t *v, void *field, SigilErr *reterr) {
        char **s = field, *copy;

        if (!json_is_string(v))
                return sigil_err_set(reterr, -EINVAL, "expected a string");
        if (strlen(json_string_value(v)) != json_string_length(v))
                return sigil_err_set(reterr, -EINVAL, "contains a NUL character");
        copy = strdup(json_string_value(v));
        if (!copy)
                return sigil_err_set(reterr, -ENOMEM, "out of memory");
        free(*s);
        *s = copy;
        return 0;
}

int sigil_config_parse_bool(const char *path, json_t *v, void *field, SigilErr *reterr) {
        if (!json_is_boolean(v))
                return sigil_err_set(reterr, -EINVAL, "expected true or false");
        *(bool *) field = json_is_true(v);
        return 0;
}

int sigil_config_parse_int(const char *path, json_t *v, void *field, SigilErr *reterr) {
        if (!json_is_integer(v))
                return sigil_err_set(reterr, -EINVAL, "expected an integer");
        *(int64_t *) field = (int64_t) json_integer_value(v);
        return 0;
}

int sigil_config_parse_port(const char *path, json_t *v, void *field, SigilErr *reterr) {
        json_int_t p;

        if (!json_is_integer(v))
                return sigil_err_set(reterr, -EINVAL, "expected a port number");
        p = json_integer_value(v);
        if (p < 1 || p > 65535)
                return sigil_err_set(reterr, -EINVAL, "port %" JSON_INTEGER_FORMAT
                                     " out of range 1..65535", p);
        *(uint16_t *) field = (uint16_t) p;
        return 0;
}

int sigil_config_parse_duration(const char *path, json_t *v, void *field, SigilErr *reterr) {
        if (json_is_integer(v)) {
                json_int_t sec = json_integer_value(v);

                if (sec < 0)
                        return sigil_err_set(reterr, -EINVAL, "negative durations are not allowed");
                if ((uint64_t) sec > UINT64_MAX / USEC_PER_SEC)
                        return sigil_err_set(reterr, -EINVAL, "duration is too large");
                *(uint64_t *) field = (uint64_t) sec * USEC_PER_SEC;
                return 0;
        }
        if (!json_is_string(v))
                return sigil_err_set(reterr, -EINVAL,
                                     "expected a duration such as \"1h30m\" or a number of "
                                     "seconds");
        if (!string_value(v))
                return sigil_err_set(reterr, -EINVAL, "contains a NUL character");
        return sigil_duration_parse(json_string_value(v), field, reterr) < 0 ? -EINVAL : 0;
}

int sigil_config_parse_strv(const char *path, json_t *v, void *field, SigilErr *reterr) {
        _cleanup_(strv_freep) char **l = NULL;
        char ***out = field;
        size_t i, n;
        json_t *e;

        if (!json_is_array(v))
                return sigil_err_set(reterr, -EINVAL, "expected an array of strings");
        n = json_array_size(v);
        l = new0(char *, n + 1);
        if (!l)
                return sigil_err_set(reterr, -ENOMEM, "out of memory");
        json_array_foreach(v, i, e) {
                if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
                        return sigil_err_set(reterr, -EINVAL, "element %zu: expected a string", i);
                l[i] = strdup(json_string_value(e));
                if (!l[i])
                        return sigil_err_set(reterr, -ENOMEM, "out of memory");
        }
        strv_free(*out);
        *out = TAKE_PTR(l);
        return 0;
}

int sigil_config_parse_log_level(const char *path, json_t *v, void *field, SigilErr *reterr) {
        SigilLogLevel l = sigil_log_level_from_string(string_value(v));

        if (l < 0)
                return sigil_err_set(reterr, -EINVAL,
                                     "expected one of \"debug\", \"info\", \"warn\", \"error\"");
        *(SigilLogLevel *) field = l;
        return 0;
}

int sigil_config_parse_log_format(const char *path, json_t *v, void *field, SigilErr *reterr) {
        SigilLogFormat f = sigil_log_format_from_string(string_value(v));

        if (f < 0)
                return sigil_err_set(reterr, -EINVAL, "expected \"text\" or \"json\"");
        *(SigilLogFormat *) field = f;
        return 0;
}

int sigil_config_parse_key_type(const char *path, json_t *v, void *field, SigilErr *reterr) {
        const char *s = string_value(v);
        SigilKeyType t = s ? sigil_key_type_from_string(s) : _SIGIL_KEY_TYPE_INVALID;

        if (t < 0)
                return sigil_err_set(reterr, -EINVAL, "expected one of \"ec-p256\", "
                                     "\"ec-p384\", \"rsa-2048\", \"rsa-4096\"");
        *(SigilKeyType *) field = t;
        return 0;
}

int sigil_config_parse_trust_domain(const char *path, json_t *v, void *field, SigilErr *reterr) {
        char why[256];

        if (!json_is_string(v))
                return sigil_err_set(reterr, -EINVAL, "expected a trust domain name");
        if (sigil_trust_domain_validate(json_string_value(v), why, sizeof(why)) != 0)
                return sigil_err_set(reterr, -EINVAL, "%s", why);
        return sigil_config_parse_string(path, v, field, reterr);
}
