/* SPDX-License-Identifier: Apache-2.0 */
/* json-struct.h - JSON (jansson) to google.protobuf.Struct (protobuf-c) */
#pragma once

#include <jansson.h>

#include "google/protobuf/struct.pb-c.h"

#define JSON_STRUCT_DEPTH_MAX 32

/**
 * json_to_struct() - convert a JSON object into a Struct message
 * @obj:        a JSON object (e.g. validated JWT claims)
 * @ret:        on success, the message, allocated with malloc throughout so that
 *              protobuf_c_message_free_unpacked(&ret->base, NULL) frees it
 *
 * Integers become doubles, as google.protobuf.Value holds numbers.
 *
 * Return: 0, -EINVAL (not an object, or nested deeper than JSON_STRUCT_DEPTH_MAX) or -ENOMEM.
 */
int json_to_struct(json_t *obj, Google__Protobuf__Struct **ret);

/* The JSON form of a Struct (numbers that are whole come back as integers), or NULL on OOM. */
json_t *struct_to_json(const Google__Protobuf__Struct *s);
