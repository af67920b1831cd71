/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every allocation here uses malloc/calloc, the default protobuf-c
 * allocator, so the finished tree (and any partial tree on failure) is
 * released with protobuf_c_message_free_unpacked(..., NULL).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json-struct.h"
#include "sigil/macro.h"

static int value_from_json(json_t *j, int depth, Google__Protobuf__Value **ret);

static int struct_from_json(json_t *obj, int depth, Google__Protobuf__Struct **ret) {
        Google__Protobuf__Struct *s;
        const char *key;
        json_t *v;
        size_t i = 0;

        if (!json_is_object(obj) || depth > JSON_STRUCT_DEPTH_MAX)
                return -EINVAL;
        s = new0(Google__Protobuf__Struct, 1);
        if (!s)
                return -ENOMEM;
        google__protobuf__struct__init(s);
        s->fields = new0(Google__Protobuf__Struct__FieldsEntry *, json_object_size(obj));
        if (!s->fields) {
                free(s);
                return -ENOMEM;
        }
        json_object_foreach(obj, key, v) {
                Google__Protobuf__Struct__FieldsEntry *e = new0(Google__Protobuf__Struct__FieldsEntry, 1);
                int r;

                if (!e) {
                        protobuf_c_message_free_unpacked(&s->base, NULL);
                        return -ENOMEM;
                }
                google__protobuf__struct__fields_entry__init(e);
                s->fields[i] = e;
                s->n_fields = ++i;
                e->key = strdup(key);
                r = e->key ? value_from_json(v, depth + 1, &e->value) : -ENOMEM;
                if (r < 0) {
                        protobuf_c_message_free_unpacked(&s->base, NULL);
                        return r;
                }
        }
        *ret = s;
        return 0;
}

static int list_from_json(json_t *arr, int depth, Google__Protobuf__ListValue **ret) {
        Google__Protobuf__ListValue *l = new0(Google__Protobuf__ListValue, 1);
        size_t i;
        json_t *v;

        if (!l)
                return -ENOMEM;
        google__protobuf__list_value__init(l);
        l->values = new0(Google__Protobuf__Value *, json_array_size(arr));
        if (!l->values) {
                free(l);
                return -ENOMEM;
        }
        json_array_foreach(arr, i, v) {
                int r = value_from_json(v, depth + 1, &l->values[i]);

                if (r < 0) {
                        protobuf_c_message_free_unpacked(&l->base, NULL);
                        return r;
                }
                l->n_values = i + 1;
        }
        *ret = l;
        return 0;
}

static int value_from_json(json_t *j, int depth, Google__Protobuf__Value **ret) {
        Google__Protobuf__Value *v;
        int r = 0;

        if (depth > JSON_STRUCT_DEPTH_MAX)
                return -EINVAL;
        v = new0(Google__Protobuf__Value, 1);
        if (!v)
                return -ENOMEM;
        google__protobuf__value__init(v);
        switch (json_typeof(j)) {
        case JSON_OBJECT:
                v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE;
                r = struct_from_json(j, depth, &v->struct_value);
                break;
        case JSON_ARRAY:
                v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE;
                r = list_from_json(j, depth, &v->list_value);
                break;
        case JSON_STRING:
                v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE;
                v->string_value = strndup(json_string_value(j), json_string_length(j));
                r = v->string_value ? 0 : -ENOMEM;
                break;
        case JSON_INTEGER:
        case JSON_REAL:
                v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE;
                v->number_value = json_number_value(j);
                break;
        case JSON_TRUE:
        case JSON_FALSE:
                v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE;
                v->bool_value = json_is_true(j);
                break;
        default:
                v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND_NULL_VALUE;
                v->null_value = GOOGLE__PROTOBUF__NULL_VALUE__NULL_VALUE;
                break;
        }
        if (r < 0) {
                v->kind_case = GOOGLE__PROTOBUF__VALUE__KIND__NOT_SET;
                protobuf_c_message_free_unpacked(&v->base, NULL);
                return r;
        }
        *ret = v;
        return 0;
}

int json_to_struct(json_t *obj, Google__Protobuf__Struct **ret) {
        return struct_from_json(obj, 0, ret);
}

static json_t *value_to_json(const Google__Protobuf__Value *v);

json_t *struct_to_json(const Google__Protobuf__Struct *s) {
        json_t *o = json_object();

        for (size_t i = 0; o && s && i < s->n_fields; i++)
                if (json_object_set_new(o, s->fields[i]->key ? s->fields[i]->key : "",
                                        value_to_json(s->fields[i]->value)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        return o;
}

static json_t *value_to_json(const Google__Protobuf__Value *v) {
        json_t *a;

        if (!v)
                return json_null();
        switch (v->kind_case) {
        case GOOGLE__PROTOBUF__VALUE__KIND_NUMBER_VALUE:
                if (v->number_value == (double) (json_int_t) v->number_value &&
                    v->number_value < 9007199254740992.0 && v->number_value > -9007199254740992.0)
                        return json_integer((json_int_t) v->number_value);
                return json_real(v->number_value);
        case GOOGLE__PROTOBUF__VALUE__KIND_STRING_VALUE:
                return json_string(v->string_value ? v->string_value : "");
        case GOOGLE__PROTOBUF__VALUE__KIND_BOOL_VALUE:
                return json_boolean(v->bool_value);
        case GOOGLE__PROTOBUF__VALUE__KIND_STRUCT_VALUE:
                return struct_to_json(v->struct_value);
        case GOOGLE__PROTOBUF__VALUE__KIND_LIST_VALUE:
                a = json_array();
                for (size_t i = 0; a && v->list_value && i < v->list_value->n_values; i++)
                        (void) json_array_append_new(a, value_to_json(v->list_value->values[i]));
                return a;
        default:
                return json_null();
        }
}
