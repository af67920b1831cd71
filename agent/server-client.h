/* SPDX-License-Identifier: Apache-2.0 */
/* server-client.h - the agent's channels to sigil-server's agent API and its unary calls */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>

#include "rpc-client.h"
#include "sigil/bundle.h"
#include "sigil/error.h"

/*
 * Two TLS identities: the agent's (its SVID, for every call after
 * attestation) and an anonymous one (no SVID: attestation, which must work
 * even when the agent's SVID expired, since the server refuses handshakes
 * with an invalid client certificate). Both check the server by SPIFFE ID
 * (spiffe://<td>/sigil/server) against our bundle; without any bundle the
 * anonymous one may be insecure (insecure_bootstrap, warned on each
 * handshake). The agent channel is shared by every caller, re-made after a
 * failure and after the SVID changes; it is only handed out once the TLS
 * file watcher has picked up the new SVID (rpc-tls.h: up to
 * RPC_TLS_REFRESH_SEC), so a renewed or re-attested agent never connects
 * with its old certificate.
 */

typedef struct ServerClient ServerClient;
typedef struct ServerChannel ServerChannel;

/* Documented outcomes of a call besides 0 (the message is in the SigilErr). */
enum {
        SERVER_E_UNAVAILABLE = 1,       /* not reachable, timed out, overloaded: retry later */
        SERVER_E_DENIED,                /* PERMISSION_DENIED, UNAUTHENTICATED: we are refused */
        SERVER_E_FAILED,                /* any other status: the server refused the request */
};

#define SERVER_CALL_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define SERVER_SVID_SETTLE_USEC ((RPC_TLS_REFRESH_SEC * USEC_PER_SEC) + 300 * USEC_PER_MSEC)

/**
 * server_client_new() - prepare channels to sigil-server
 * @address:    host name or address
 * @port:       port of the agent API
 * @trust_domain: our trust domain
 * @tls_dir:    directory for the TLS files (created 0700; emptied)
 * @insecure_bootstrap: attest without authenticating the server when no bundle is known
 * @ret:        on success, the client
 *
 * Return: 0, -EPERM (@tls_dir writable by others) or negative errno.
 */
int server_client_new(const char *address, uint16_t port, const char *trust_domain,
                      const char *tls_dir, bool insecure_bootstrap, ServerClient **ret);
ServerClient *server_client_free(ServerClient *sc);
DEFINE_TRIVIAL_CLEANUP_FUNC(ServerClient *, server_client_free)

/* Our trust domain's bundle, used to authenticate the server from now on. Return: 0 or -ENOMEM. */
int server_client_set_bundle(ServerClient *sc, const SigilBundle *b);

/**
 * server_client_set_svid() - the agent SVID to present from now on
 * @sc:         the client
 * @key:        its key
 * @chain:      leaf first
 * @reterr:     on failure, the reason
 *
 * The current channel is dropped; the next one is handed out once the new
 * SVID is in use (SERVER_SVID_SETTLE_USEC after a replacement).
 *
 * Return: 0, -EINVAL or negative errno.
 */
int server_client_set_svid(ServerClient *sc, EVP_PKEY *key, STACK_OF(X509) *chain,
                           SigilErr *reterr);

/**
 * server_client_channel() - a reference to the channel presenting the agent SVID
 * @sc:         the client
 * @ret:        on success, the channel (server_channel_unref() when done)
 *
 * May sleep until a just-installed SVID is in use.
 *
 * Return: 0, -ENOKEY (no SVID yet) or negative errno.
 */
int server_client_channel(ServerClient *sc, ServerChannel **ret);
void server_channel_unref(ServerChannel *ch);
DEFINE_TRIVIAL_CLEANUP_FUNC(ServerChannel *, server_channel_unref)
RpcClient *server_channel_rpc(ServerChannel *ch);

/* Forget the current channel (after a transport failure): the next caller makes a new one. */
void server_client_reset_channel(ServerClient *sc, ServerChannel *failed);

/*
 * For shutdown: cancel every call in flight on every channel (they end with
 * CANCELLED, as if the server were unreachable) and refuse new channels
 * (-ESHUTDOWN), so that no thread waits for a server that does not answer.
 */
void server_client_shutdown(ServerClient *sc);

/**
 * server_client_call() - one unary call
 * @sc:         the client
 * @anonymous:  on the anonymous identity (attestation) instead of the agent's
 * @method:     "/sigil.agent.v1.Node/..."
 * @req:        request
 * @resp_desc:  response type
 * @ret_resp:   on 0, the response (free with protobuf_c_message_free_unpacked)
 * @reterr:     otherwise, "code = <Code> desc = <message>" or the local reason
 *
 * Return: 0, SERVER_E_UNAVAILABLE, SERVER_E_DENIED, SERVER_E_FAILED or negative errno.
 */
int server_client_call(ServerClient *sc, bool anonymous, const char *method,
                       const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
                       ProtobufCMessage **ret_resp, SigilErr *reterr);

/* The SERVER_E_* class of a finished call's status (0 for OK). */
int server_status_class(grpc_status_code code);

/* "code = PermissionDenied desc = ..." into @reterr; returns server_status_class(). */
int server_status_error(const RpcStatus *st, SigilErr *reterr);
