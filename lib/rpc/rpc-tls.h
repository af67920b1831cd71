/* SPDX-License-Identifier: Apache-2.0 */
/* rpc-tls.h - mutual TLS for the gRPC glue, peers authenticated by SPIFFE ID */
#pragma once

#include <grpc/grpc_security.h>
#include <stdbool.h>

#include "rpc-server.h"
#include "sigil/bundle.h"
#include "sigil/error.h"
#include "sigil/macro.h"
#include "sigil/spiffeid.h"

/*
 * Agents and sigil-server talk gRPC over TLS 1.2+. The server presents its
 * X.509-SVID, requests but does not require a client certificate (an agent
 * attests before it has one), and checks any presented client chain itself
 * against the trust bundle by the X.509-SVID rules. The client presents its
 * SVID when it has one and accepts the server only if the server's chain is
 * valid for the bundle and its SPIFFE ID is exactly the expected one. No
 * hostname is checked anywhere.
 *
 * An RpcTlsIdentity holds one process's current SVID and trust bundles. The
 * daemons call the setters whenever an SVID is renewed or the bundle changes;
 * connections made afterwards use the new material, nothing restarts.
 *
 * How rotation works, and what gRPC core 1.51 (Debian libgrpc-dev) does, as
 * found by trying it (tests/unit/test-rpc-tls.c checks the parts we rely on):
 *
 * - The C API offers two certificate providers: static data (never changes)
 *   and a file watcher. Server credentials are bound to a listening port when
 *   it is added, so only the file watcher can rotate a running server's
 *   identity. We use it on both sides: the SVID (chain, then PKCS#8 key) is
 *   written to one 0600 file, <dir>/svid.pem, replaced atomically by rename.
 * - The watcher re-reads its files every refresh interval on a thread of its
 *   own (one per provider; we keep one provider per identity and kind) and
 *   pushes changed contents to every credentials object using it. No minimum
 *   interval is enforced (0 re-reads thousands of times a second); we use
 *   RPC_TLS_REFRESH_SEC = 1. A new
 *   SVID reaches new handshakes about one interval after the setter returned
 *   (measured: 0.9-1.0 s). Renewal at half-life leaves the old SVID valid far
 *   longer than that.
 * - The watcher reads the key and the certificate files separately and only
 *   detects a replacement during its reads by comparing st_mtime (seconds)
 *   before and after. So key and chain share one file (OpenSSL skips PEM
 *   blocks of other types when reading either), and every new file gets an
 *   mtime strictly greater than the previous one (set before the rename): a
 *   read can never pair one SVID's key with another's certificate.
 * - The server needs no root certificates to request client certificates:
 *   with GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY it sends a
 *   CertificateRequest with no CA names, and gRPC and OpenSSL clients send
 *   their certificate anyway.
 * - The external verifier runs for every handshake, on both sides, also when
 *   the client sent no certificate (peer_cert is NULL, no SANs): that is where
 *   anonymous clients are let through. Its non-OK status fails the handshake.
 *   A client that refuses sees UNAVAILABLE "... Custom verification check
 *   failed with error: UNAUTHENTICATED: <our reason>"; when the server
 *   refuses, the client sees only UNAVAILABLE "Socket closed" (the reason is
 *   in the server's log). With verify_server_cert 0 and check_call_host 0 the
 *   client does no OpenSSL or hostname check at all and our verifier decides.
 *   The verifier learns nothing about the peer's address.
 * - peer_cert_full_chain and the auth property "x509_pem_cert_chain" are what
 *   SSL_get_peer_cert_chain() returns: on the client the server's leaf comes
 *   first; on the server the client's leaf is missing (only what the client
 *   sent after it). A client whose SVID file holds a leaf alone completes the
 *   chain from its root store (OpenSSL auto-chain), so the server may see the
 *   root CA too; roots in a chain are ignored as trust. A resumed session
 *   would come without a chain: gRPC clients resume only with
 *   GRPC_SSL_SESSION_CACHE_ARG, which sigil never sets.
 * - A client that watches no root certificates makes gRPC load the system
 *   roots (/etc/ssl/certs/ca-certificates.crt, else gRPC's roots.pem) even
 *   though it verifies nothing with them. So the client watches
 *   <dir>/bundle.pem, the X.509 authorities of all bundles; they are never
 *   used for trust (only the verifier decides, against the live bundle set).
 *   Without any bundle (insecure bootstrap) gRPC's default roots are loaded.
 * - TLS versions: the options default to 1.2 minimum and 1.3 maximum and
 *   1.51's C API has no setter; TLS 1.0 and 1.1 ClientHellos are refused.
 * - For each handshake whose SNI names no DNS SAN of the server's SVID, gRPC
 *   logs "No match found for server name: <target>." at ERROR on the server
 *   (the client sends the target host as SNI, IP addresses included). It is
 *   noise: a DNS SAN in the server SVID for the name agents dial silences it.
 * - Channels made from the same credentials object share one connection
 *   while it is open (gRPC's global subchannel pool): a new channel then does
 *   no handshake, and only rpc_call_verify_peer() notices a bundle change.
 *   Every credentials object made here has its own verifier, compares unequal
 *   to every other, and so always makes new connections.
 * - A refused connection keeps its credentials (and the identity) alive for
 *   about a second (the subchannel's reconnect backoff) after its channel is
 *   gone.
 */

#define RPC_TLS_REFRESH_SEC 1u          /* file watcher refresh interval */
#define RPC_TLS_PEM_MAX (512u * 1024u)  /* bytes of peer PEM accepted */

typedef struct RpcTlsIdentity RpcTlsIdentity;

DEFINE_TRIVIAL_CLEANUP_FUNC(grpc_server_credentials *, grpc_server_credentials_release)
DEFINE_TRIVIAL_CLEANUP_FUNC(grpc_channel_credentials *, grpc_channel_credentials_release)

/**
 * rpc_tls_identity_new() - a holder of an SVID and trust bundles, with no SVID and no bundle yet
 * @dir:        directory for the watched files (created 0700 if missing; must not be
 *              writable by group or others); one identity per directory
 * @ret:        on success, the identity (one reference)
 *
 * Files left in @dir by an earlier run are removed.
 *
 * Return: 0, -EPERM (@dir writable by others) or negative errno.
 */
int rpc_tls_identity_new(const char *dir, RpcTlsIdentity **ret);
RpcTlsIdentity *rpc_tls_identity_ref(RpcTlsIdentity *id);
/* Credentials made from @id keep it alive until gRPC lets go of them. Accepts NULL. */
RpcTlsIdentity *rpc_tls_identity_unref(RpcTlsIdentity *id);
DEFINE_TRIVIAL_CLEANUP_FUNC(RpcTlsIdentity *, rpc_tls_identity_unref)

/**
 * rpc_tls_identity_set_svid() - install a new SVID (initial or renewed)
 * @id:         the identity
 * @key:        the SVID's private key
 * @chain:      leaf first, then any intermediates
 * @reterr:     on failure, the reason; may be NULL
 *
 * The leaf must carry one SPIFFE ID and match @key; its validity period is
 * not checked here (peers check it). New handshakes use the SVID within
 * RPC_TLS_REFRESH_SEC.
 *
 * Return: 0, -EINVAL (not an SVID for @key) or negative errno (writing the file).
 */
int rpc_tls_identity_set_svid(RpcTlsIdentity *id, EVP_PKEY *key, STACK_OF(X509) *chain,
                              SigilErr *reterr);

/**
 * rpc_tls_identity_set_svid_pem() - rpc_tls_identity_set_svid() from PEM text
 * @id:         the identity
 * @key_pem:    unencrypted private key PEM
 * @chain_pem:  concatenated CERTIFICATE blocks, leaf first
 * @reterr:     on failure, the reason; may be NULL
 *
 * Return: 0, -EINVAL or negative errno.
 */
int rpc_tls_identity_set_svid_pem(RpcTlsIdentity *id, const char *key_pem, const char *chain_pem,
                                  SigilErr *reterr);

/**
 * rpc_tls_identity_set_bundles() - replace the trust bundles (a deep copy of @bundles is kept)
 * @id:         the identity
 * @bundles:    the bundles of every trust domain whose peers are accepted
 *
 * Takes effect for the next handshake and the next rpc_call_verify_peer().
 *
 * Return: 0 or negative errno.
 */
int rpc_tls_identity_set_bundles(RpcTlsIdentity *id, const SigilBundleSet *bundles);

/**
 * rpc_tls_identity_get_spiffe_id() - the SPIFFE ID of the current SVID
 * @id:         the identity
 * @ret:        on success, the ID
 *
 * Return: 0 or -ENOKEY (no SVID yet).
 */
int rpc_tls_identity_get_spiffe_id(RpcTlsIdentity *id, SigilSpiffeId *ret);

/**
 * rpc_tls_server_credentials() - TLS server credentials presenting @id's SVID
 * @id:         the server's identity; it must have an SVID
 * @ret:        on success, the credentials (release with grpc_server_credentials_release()
 *              once rpc_server_listen_tcp() has used them)
 *
 * Clients without a certificate are accepted (check with rpc_call_verify_peer()
 * in handlers that need an identity); a presented chain that is not a valid
 * X.509-SVID for the current bundles fails the handshake and is logged.
 *
 * Return: 0, -ENOKEY (no SVID yet) or -ENOMEM.
 */
int rpc_tls_server_credentials(RpcTlsIdentity *id, grpc_server_credentials **ret);

/**
 * rpc_tls_client_credentials() - TLS channel credentials that accept only @server_id
 * @id:         the client's identity; its SVID is presented if it has one now
 * @server_id:  the exact SPIFFE ID the server must present
 * @ret:        on success, the credentials (release with grpc_channel_credentials_release())
 *
 * The server's chain must be a valid X.509-SVID for the current bundles. An
 * identity without an SVID makes anonymous credentials (attestation); make new
 * credentials once an SVID is set.
 *
 * Return: 0 or -ENOMEM.
 */
int rpc_tls_client_credentials(RpcTlsIdentity *id, const SigilSpiffeId *server_id,
                               grpc_channel_credentials **ret);

/**
 * rpc_tls_client_credentials_insecure_bootstrap() - TLS without checking the server (INSECURE)
 * @id:         the client's identity (its SVID is presented if it has one; no bundle needed)
 * @ret:        on success, the credentials
 *
 * For first contact before the agent has a trust bundle (insecure_bootstrap):
 * the connection is encrypted but anyone in the path can impersonate the
 * server. Every handshake logs a warning naming the SPIFFE ID the server
 * claimed.
 *
 * Return: 0 or -ENOMEM.
 */
int rpc_tls_client_credentials_insecure_bootstrap(RpcTlsIdentity *id,
                                                  grpc_channel_credentials **ret);

/**
 * rpc_call_peer_spiffe_id() - the SPIFFE ID of the certificate the caller presented
 * @call:       a call that came over a connection made with rpc_tls_server_credentials()
 * @ret:        on success, the ID
 *
 * The chain was verified at handshake time; rpc_call_verify_peer() checks it
 * again against the bundles of now.
 *
 * Return: 0, -ENOTCONN (no certificate: an anonymous peer or not TLS), -EINVAL or -ENOMEM.
 */
int rpc_call_peer_spiffe_id(RpcCall *call, SigilSpiffeId *ret);

/**
 * rpc_call_verify_peer() - re-verify the caller's chain against @id's bundles of now
 * @call:       the call
 * @id:         the server's identity
 * @ret_id:     on success, the caller's SPIFFE ID; may be NULL
 * @reterr:     on -EKEYREJECTED, the reason; may be NULL
 *
 * Catches what changed since the handshake on a long-lived connection: the
 * SVID expired, or its CA left the bundle.
 *
 * Return: 0, -ENOTCONN (anonymous peer), -EKEYREJECTED (no longer valid) or -ENOMEM.
 */
int rpc_call_verify_peer(RpcCall *call, RpcTlsIdentity *id, SigilSpiffeId *ret_id,
                         SigilErr *reterr);
