/* SPDX-License-Identifier: Apache-2.0 */
#include "hex.h"

size_t hex_encode(const uint8_t *d, size_t n, char *out, size_t n_out) {
        static const char digits[] = "0123456789abcdef";
        size_t i;

        for (i = 0; i < n && 2 * i + 2 < n_out; i++) {
                out[2 * i] = digits[d[i] >> 4];
                out[2 * i + 1] = digits[d[i] & 0xf];
        }
        out[2 * i] = '\0';
        return 2 * i;
}
