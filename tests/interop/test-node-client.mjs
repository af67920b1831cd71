// SPDX-License-Identifier: Apache-2.0
//
// A Workload API client not written here: Node.js with @grpc/grpc-js, the proto
// loaded at run time by @grpc/proto-loader, and JWT-SVIDs verified by jose.
// Started by tests/interop/test-node.py, which runs the real sigil-server and
// sigil-agent, registers an entry for this process's uid and then checks what
// this script printed and wrote (openssl verify of the PEM files).
//
//   node test-node-client.mjs [svids|no-identity]
//
// Environment:
//   SPIFFE_ENDPOINT_SOCKET    unix:///path/to/api.sock (required)
//   SIGIL_INTEROP_SPIFFE_ID   the SPIFFE ID this process must get (mode svids)
//   SIGIL_INTEROP_OUT         directory for leaf.pem, inter.pem, bundle.pem, key.pem,
//                             x509-bundles.pem (mode svids)
//   SIGIL_INTEROP_HINT        the hint the SVID must carry (not checked when unset)
//   SIGIL_INTEROP_TIMEOUT_MS  deadline of each call (default 10000)
//
// Prints one "ok ..." or "FAIL ..." line per check and last a line
// "RESULT {json}"; exits 0 when every check passed, 1 otherwise.

import { X509Certificate, createPrivateKey } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PROTO_DIR = path.join(HERE, '..', '..', 'proto');
const TD_ID = 'spiffe://example.org';
const JWT_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384',
        'PS512'];
const TIMEOUT_MS = Number(process.env.SIGIL_INTEROP_TIMEOUT_MS || 10000);

const failures = [];
let nChecks = 0;

function check(cond, what) {
        nChecks++;
        console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
        if (!cond)
                failures.push(what);
        return cond;
}

function requireEnv(name) {
        const v = process.env[name];
        if (!v) {
                console.error(`test-node-client: ${name} is not set`);
                process.exit(2);
        }
        return v;
}

// ---- the client ----

function loadService() {
        const def = protoLoader.loadSync('workload.proto', {
                keepCase: true, longs: String, enums: String, defaults: true, oneofs: true,
                includeDirs: [PROTO_DIR],
        });
        return grpc.loadPackageDefinition(def).SpiffeWorkloadAPI;
}

function securityHeader(value = 'true') {
        const md = new grpc.Metadata();
        if (value !== null)
                md.set('workload.spiffe.io', value);
        return md;
}

function options() {
        return { deadline: Date.now() + TIMEOUT_MS };
}

// The first message of a server stream; the stream is then cancelled.
function first(client, method, req = {}, md = securityHeader()) {
        return new Promise((resolve, reject) => {
                const call = client[method](req, md, options());
                let done = false;
                call.on('data', (msg) => {
                        if (done)
                                return;
                        done = true;
                        resolve(msg);
                        call.cancel();
                });
                call.on('error', (err) => {
                        if (!done) {
                                done = true;
                                reject(err);
                        }
                });
                call.on('end', () => {
                        if (!done) {
                                done = true;
                                reject(new Error(`${method}: the stream ended without a message`));
                        }
                });
        });
}

function unary(client, method, req, md = securityHeader()) {
        return new Promise((resolve, reject) => {
                client[method](req, md, options(),
                        (err, resp) => (err ? reject(err) : resolve(resp)));
        });
}

function call(client, method, req, md) {
        return method === 'FetchJWTSVID' || method === 'ValidateJWTSVID'
                ? unary(client, method, req, md) : first(client, method, req, md);
}

async function refused(client, method, req, code, md = securityHeader()) {
        try {
                await call(client, method, req, md);
                return check(false, `${method} must fail with status ${code}, it succeeded`);
        } catch (err) {
                return check(err.code === code, `${method} refused with status ${code}: got ` +
                        `${err.code} '${err.details ?? err.message}'`);
        }
}

// ---- DER, PEM, Struct ----

function derElements(buf, what) {
        const out = [];
        let i = 0;
        while (i < buf.length) {
                if (buf[i] !== 0x30 || i + 2 > buf.length)
                        throw new Error(`${what}: no DER SEQUENCE at offset ${i}`);
                let len = buf[i + 1];
                let hdr = 2;
                if (len >= 0x80) {
                        const n = len & 0x7f;
                        if (n < 1 || n > 4 || i + 2 + n > buf.length)
                                throw new Error(`${what}: bad DER length at offset ${i}`);
                        len = buf.subarray(i + 2, i + 2 + n).reduce((a, b) => a * 256 + b, 0);
                        hdr = 2 + n;
                }
                if (i + hdr + len > buf.length)
                        throw new Error(`${what}: element at offset ${i} runs past the end`);
                out.push(buf.subarray(i, i + hdr + len));
                i += hdr + len;
        }
        return out;
}

function pem(der, kind = 'CERTIFICATE') {
        const b64 = Buffer.from(der).toString('base64').match(/.{1,64}/g).join('\n');
        return `-----BEGIN ${kind}-----\n${b64}\n-----END ${kind}-----\n`;
}

function valueToJs(v) {
        switch (v.kind) {
        case 'nullValue': return null;
        case 'numberValue': return v.numberValue;
        case 'stringValue': return v.stringValue;
        case 'boolValue': return v.boolValue;
        case 'structValue': return structToJs(v.structValue);
        case 'listValue': return (v.listValue.values || []).map(valueToJs);
        default: throw new Error(`google.protobuf.Value without a kind: ${JSON.stringify(v)}`);
        }
}

function structToJs(s) {
        const out = {};
        for (const [k, v] of Object.entries((s && s.fields) || {}))
                out[k] = valueToJs(v);
        return out;
}

const sameMembers = (a, b) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

// ---- the checks ----

async function checkX509(client, want, outDir, result) {
        const resp = await first(client, 'FetchX509SVID');
        check(resp.svids.length === 1, `FetchX509SVID: one SVID (got ${resp.svids.length})`);
        const svid = resp.svids[0];
        check(svid.spiffe_id === want, `X509SVID.spiffe_id is ${want} (got ${svid.spiffe_id})`);
        const hint = process.env.SIGIL_INTEROP_HINT;
        if (hint !== undefined)
                check(svid.hint === hint, `X509SVID.hint is '${hint}' (got '${svid.hint}')`);
        const chain = derElements(svid.x509_svid, 'x509_svid');
        const bundle = derElements(svid.bundle, 'bundle');
        check(chain.length >= 1 && bundle.length >= 1, 'a chain and a bundle');

        const leaf = new X509Certificate(chain[0]);
        const uris = (leaf.subjectAltName || '').split(', ').filter((s) => s.startsWith('URI:'));
        check(sameMembers(uris, [`URI:${want}`]), `leaf URI SAN is ${want} (got ${uris})`);
        check(!leaf.ca, 'the leaf is not a CA');
        const key = createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' });
        check(leaf.checkPrivateKey(key), 'x509_svid_key (PKCS#8) belongs to the leaf');
        const issuer = chain.length > 1 ? new X509Certificate(chain[1])
                : bundle.map((d) => new X509Certificate(d)).find((c) => leaf.checkIssued(c));
        check(issuer !== undefined && leaf.verify(issuer.publicKey),
                'node:crypto: the leaf is signed by the next certificate or a bundle CA');

        writeFileSync(path.join(outDir, 'leaf.pem'), pem(chain[0]));
        if (chain.length > 1)
                writeFileSync(path.join(outDir, 'inter.pem'),
                        chain.slice(1).map((c) => pem(c)).join(''));
        writeFileSync(path.join(outDir, 'bundle.pem'), bundle.map((c) => pem(c)).join(''));
        writeFileSync(path.join(outDir, 'key.pem'), pem(svid.x509_svid_key, 'PRIVATE KEY'),
                { mode: 0o600 });
        Object.assign(result, { spiffe_id: svid.spiffe_id, chain_len: chain.length,
                bundle_len: bundle.length });

        const xb = await first(client, 'FetchX509Bundles');
        result.x509_bundle_tds = Object.keys(xb.bundles).sort();
        check(sameMembers(result.x509_bundle_tds, [TD_ID]),
                `FetchX509Bundles: trust domains ${result.x509_bundle_tds}`);
        const own = xb.bundles[TD_ID];
        check(own !== undefined && Buffer.compare(own, svid.bundle) === 0,
                'FetchX509Bundles: own bundle equals X509SVID.bundle');
        if (own !== undefined) {
                writeFileSync(path.join(outDir, 'x509-bundles.pem'),
                        derElements(own, 'X.509 bundle').map((c) => pem(c)).join(''));
        }
}

async function jwtError(token, keys, opts) {
        try {
                await jwtVerify(token, keys, { algorithms: JWT_ALGS, ...opts });
                return null;
        } catch (err) {
                return err;
        }
}

async function checkJwt(client, want, result) {
        const jb = await first(client, 'FetchJWTBundles');
        result.jwt_bundle_tds = Object.keys(jb.bundles).sort();
        check(sameMembers(result.jwt_bundle_tds, [TD_ID]),
                `FetchJWTBundles: trust domains ${result.jwt_bundle_tds}`);
        const jwks = JSON.parse(Buffer.from(jb.bundles[TD_ID]).toString('utf8'));
        check(Array.isArray(jwks.keys) && jwks.keys.length > 0 && jwks.keys.every((k) => k.kid),
                'the JWK Set has keys, each with a kid');
        result.jwt_kids = jwks.keys.map((k) => k.kid).sort();
        const keySet = createLocalJWKSet(jwks);

        const now = Math.floor(Date.now() / 1000);
        const resp = await unary(client, 'FetchJWTSVID', { audience: ['interop-node', 'second'] });
        check(resp.svids.length === 1 && resp.svids[0].spiffe_id === want,
                `FetchJWTSVID: one token for ${want}`);
        const token = resp.svids[0].svid;
        const header = decodeProtectedHeader(token);
        check(Object.keys(header).every((k) => ['alg', 'kid', 'typ'].includes(k)),
                `JOSE header has only alg, kid, typ: ${JSON.stringify(header)}`);

        const { payload } = await jwtVerify(token, keySet,
                { algorithms: JWT_ALGS, audience: 'interop-node', subject: want });
        check(payload.sub === want, `jose: sub is ${want}`);
        const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
        check(sameMembers(aud, ['interop-node', 'second']), `jose: aud is ${aud}`);
        check(payload.exp > now && payload.exp <= now + 330,
                `jose: exp ${payload.exp} is within 5m of ${now}`);
        Object.assign(result, { jwt_sub: payload.sub, jwt_aud: aud.sort(), jwt_exp: payload.exp,
                jwt_kid: header.kid });

        // jose must be able to refuse: another audience, a changed payload, an empty set.
        let err = await jwtError(token, keySet, { audience: 'someone-else' });
        check(err && err.code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && err.claim === 'aud',
                `jose refuses another audience (${err && err.code})`);
        const [h, , sig] = token.split('.');
        const forgedClaims = { ...payload, sub: `${TD_ID}/someone/else` };
        const forgedPayload = Buffer.from(JSON.stringify(forgedClaims)).toString('base64url');
        const forged = `${h}.${forgedPayload}.${sig}`;
        err = await jwtError(forged, keySet, { audience: 'interop-node' });
        check(err && err.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
                `jose refuses a changed payload (${err && err.code})`);
        err = await jwtError(token, createLocalJWKSet({ keys: [] }), { audience: 'interop-node' });
        check(err && err.code === 'ERR_JWKS_NO_MATCHING_KEY',
                `jose finds no key in an empty set (${err && err.code})`);

        const v = await unary(client, 'ValidateJWTSVID', { audience: 'second', svid: token });
        const claims = structToJs(v.claims);
        result.validate_spiffe_id = v.spiffe_id;
        check(v.spiffe_id === want, `ValidateJWTSVID: spiffe_id ${v.spiffe_id}`);
        check(claims.sub === want, `ValidateJWTSVID: claims.sub ${claims.sub}`);
        check(Array.isArray(claims.aud) && sameMembers(claims.aud, ['interop-node', 'second']),
                `ValidateJWTSVID: claims.aud ${JSON.stringify(claims.aud)}`);
        check(claims.exp === payload.exp, `ValidateJWTSVID: claims.exp ${claims.exp}`);

        const bad = grpc.status.INVALID_ARGUMENT;
        await refused(client, 'ValidateJWTSVID', { audience: 'someone-else', svid: token }, bad);
        await refused(client, 'ValidateJWTSVID', { audience: 'second', svid: forged }, bad);
        await refused(client, 'FetchJWTSVID', { audience: [] }, bad);
}

async function checkHeaderRequired(client) {
        const bad = grpc.status.INVALID_ARGUMENT;
        for (const [method, req] of [['FetchX509SVID', {}], ['FetchX509Bundles', {}],
                ['FetchJWTBundles', {}], ['FetchJWTSVID', { audience: ['interop-node'] }],
                ['ValidateJWTSVID', { audience: 'interop-node', svid: 'a.b.c' }]]) {
                await refused(client, method, req, bad, securityHeader(null));
                await refused(client, method, req, bad, securityHeader('True'));
        }
}

async function run(mode) {
        const endpoint = requireEnv('SPIFFE_ENDPOINT_SOCKET');
        const Service = loadService();
        const client = new Service(endpoint, grpc.credentials.createInsecure());
        const result = { mode };
        try {
                if (mode === 'svids') {
                        const want = requireEnv('SIGIL_INTEROP_SPIFFE_ID');
                        const outDir = requireEnv('SIGIL_INTEROP_OUT');
                        await checkX509(client, want, outDir, result);
                        await checkJwt(client, want, result);
                        await checkHeaderRequired(client);
                } else if (mode === 'no-identity') {
                        const denied = grpc.status.PERMISSION_DENIED;
                        await refused(client, 'FetchX509SVID', {}, denied);
                        await refused(client, 'FetchJWTSVID', { audience: ['interop-node'] },
                                denied);
                } else {
                        console.error(`test-node-client: unknown mode '${mode}'`);
                        process.exit(2);
                }
        } catch (err) {
                check(false, `unexpected error: ${err.stack || err}`);
        } finally {
                client.close();
        }
        Object.assign(result, { checks: nChecks, failures });
        console.log(`RESULT ${JSON.stringify(result)}`);
        process.exit(failures.length ? 1 : 0);
}

await run(process.argv[2] || 'svids');
