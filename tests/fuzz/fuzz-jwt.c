/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz JWT-SVID validation against a fixed bundle (one P-256 and one
 * RSA-2048 key of trust domain example.org, at a fixed time), and
 * sigil_jwtsvid_parse_insecure(). Property checked beyond memory safety: a
 * token that validates also parses insecurely, to the same subject, kid and
 * expiry. The valid seeds in corpus/jwt/ were signed with the private halves
 * of these keys (discarded) and expire long after FUZZ_NOW.
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"
#include "sigil/jwtsvid.h"

#define FUZZ_NOW UINT64_C(1800000000)

static const char fuzz_bundle[] =
        "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
        "\"x\":\"7lSj5OpLTihfvG_B6I36vOR9J2JHe2kyIa05me-Aj3c\","
        "\"y\":\"9c3G9ouKoJiFuCSCJQxV6DTKCzdpcvNDrApkkS0NaM8\",\"kid\":\"ec\",\"use\":\"jwt-svid\"},"
        "{\"kty\":\"RSA\",\"n\":\"rgysFv0Q04XVOG0sMermHMFsZvwVwRiI6xtHoZohwt20U8JobqvrOfniTN"
        "-G-DHO6xSc-Hcv2ZvYyvWsi6ID299t9-S2Rfumk1PMn_U3TskCVUnXb3bmlhnyACECup8g0jxVs06VHU"
        "Hs285i7JB6RrQG0gHW9mwPKG2KK9MLBbh92hUPdKZjteq3Kuno0sFrI4kRq40gH_ZG6r-86rWyDJlKNt"
        "d12eRPP41VnW9nu9mwHzFfsqzp_mMHwwzYLVvX1ZutMIxJVpht_uBO44cCzW1Uael9sqZInbuaZ7h6RL"
        "e3jMdcBm0cFyYhFJ75mHsv8phT0JrFIRBNrJetznI56w\",\"e\":\"AQAB\",\"kid\":\"rsa\","
        "\"use\":\"jwt-svid\"}]}";

/* Built on the first input and kept for the life of the process. */
static SigilBundleSet fuzz_bundles;

static void fuzz_setup(void) {
        SigilBundle *b = NULL;
        SigilErr err = {};

        if (fuzz_bundles.n_bundles > 0)
                return;
        if (sigil_bundle_from_spiffe_json("example.org", fuzz_bundle, sizeof(fuzz_bundle) - 1, &b,
                                          &err) != 0 ||
            b->n_jwt_authorities != 2 || sigil_bundle_set_put(&fuzz_bundles, b) != 0) {
                fprintf(stderr, "fuzz-jwt: fixed bundle does not load: %s\n", err.msg);
                abort();
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const char *const aud[] = { "spiffe://example.org/db", "other" };
        SigilJwtSvid *valid = NULL, *parsed = NULL;
        int r_valid, r_parsed;

        fuzz_setup();
        r_valid = sigil_jwtsvid_validate((const char *) data, size, &fuzz_bundles, aud,
                                         ELEMENTSOF(aud), FUZZ_NOW, &valid, NULL);
        r_parsed = sigil_jwtsvid_parse_insecure((const char *) data, size, &parsed, NULL);
        if (r_valid == 0 &&
            (r_parsed != 0 || !sigil_spiffeid_equal(&valid->id, &parsed->id) ||
             !streq(valid->kid, parsed->kid) || valid->exp != parsed->exp))
                abort();
        sigil_jwtsvid_free(valid);
        sigil_jwtsvid_free(parsed);
        return 0;
}
