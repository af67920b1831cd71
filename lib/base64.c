/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Strict base64 for JOSE and JWK. Encoding is OpenSSL's plus the alphabet
 * translation. Decoding is done here because OpenSSL's decoder skips
 * whitespace and accepts non-canonical forms, and a token that decodes the
 * same from two spellings is a token that can be altered unnoticed.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "sigil/macro.h"

static int b64_value(char c, int url) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        if (c == (url ? '-' : '+'))
                return 62;
        if (c == (url ? '_' : '/'))
                return 63;
        return -1;
}

size_t base64url_encoded_len(size_t n) {
        return (n / 3) * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t base64url_encode_to(const void *data, size_t n, char *out) {
        size_t len = base64url_encoded_len(n);
        char tail[5];
        size_t n_head = n / 3 * 3;

        /* Encode the whole triplets straight into @out, the tail through a scratch buffer. */
        if (n_head > 0)
                (void) EVP_EncodeBlock((unsigned char *) out, data, (int) n_head);
        if (n > n_head) {
                (void) EVP_EncodeBlock((unsigned char *) tail, (const unsigned char *) data + n_head,
                                       (int) (n - n_head));
                memcpy(out + n_head / 3 * 4, tail, len - n_head / 3 * 4);
        }
        for (size_t i = 0; i < len; i++) {
                if (out[i] == '+')
                        out[i] = '-';
                else if (out[i] == '/')
                        out[i] = '_';
        }
        out[len] = '\0';
        return len;
}

int base64url_encode(const void *data, size_t n, char **ret, size_t *ret_n) {
        char *out;
        size_t len;

        if (n > (size_t) INT32_MAX / 2)
                return -EOVERFLOW;
        out = malloc((n + 2) / 3 * 4 + 1);
        if (!out)
                return -ENOMEM;
        len = base64url_encode_to(data, n, out);
        if (ret_n)
                *ret_n = len;
        *ret = out;
        return 0;
}

int base64_encode(const void *data, size_t n, char **ret) {
        char *out;

        if (n > (size_t) INT32_MAX / 2)
                return -EOVERFLOW;
        out = malloc((n + 2) / 3 * 4 + 1);
        if (!out)
                return -ENOMEM;
        (void) EVP_EncodeBlock((unsigned char *) out, data, (int) n);
        *ret = out;
        return 0;
}

/* Decode @n characters of the base64url (@url) or base64 alphabet, padding already removed. */
static int decode_common(const char *s, size_t n, int url, uint8_t **ret, size_t *ret_n) {
        _cleanup_(freep) uint8_t *out = NULL;
        size_t n_out = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
        size_t pos = 0;
        uint32_t acc = 0;
        int bits = 0;

        if (n % 4 == 1 || n > (size_t) INT32_MAX)
                return -EINVAL;
        out = malloc(n_out + 1);
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int v = b64_value(s[i], url);

                if (v < 0)
                        return -EINVAL;
                acc = (acc << 6) | (uint32_t) v;
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        out[pos++] = (uint8_t) (acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        if (acc != 0)           /* non-canonical: unused low bits must be zero */
                return -EINVAL;
        out[pos] = 0;
        *ret_n = pos;
        *ret = TAKE_PTR(out);
        return 0;
}

int base64url_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_n) {
        return decode_common(s, n, 1, ret, ret_n);
}

int base64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_n) {
        size_t n_pad = 0;

        if (n % 4 != 0)
                return -EINVAL;
        while (n_pad < 2 && n > n_pad && s[n - 1 - n_pad] == '=')
                n_pad++;
        return decode_common(s, n - n_pad, 0, ret, ret_n);
}
