/* SPDX-License-Identifier: Apache-2.0 */
/* admin-methods.h - method paths of the admin API (proto/sigil/admin.proto) */
#pragma once

#define ADMIN_ENTRY_COUNT "/sigil.admin.v1.EntryAPI/CountEntries"
#define ADMIN_ENTRY_LIST "/sigil.admin.v1.EntryAPI/ListEntries"
#define ADMIN_ENTRY_GET "/sigil.admin.v1.EntryAPI/GetEntry"
#define ADMIN_ENTRY_BATCH_CREATE "/sigil.admin.v1.EntryAPI/BatchCreateEntry"
#define ADMIN_ENTRY_BATCH_UPDATE "/sigil.admin.v1.EntryAPI/BatchUpdateEntry"
#define ADMIN_ENTRY_BATCH_DELETE "/sigil.admin.v1.EntryAPI/BatchDeleteEntry"

#define ADMIN_AGENT_COUNT "/sigil.admin.v1.AgentAPI/CountAgents"
#define ADMIN_AGENT_LIST "/sigil.admin.v1.AgentAPI/ListAgents"
#define ADMIN_AGENT_GET "/sigil.admin.v1.AgentAPI/GetAgent"
#define ADMIN_AGENT_DELETE "/sigil.admin.v1.AgentAPI/DeleteAgent"
#define ADMIN_AGENT_BAN "/sigil.admin.v1.AgentAPI/BanAgent"
#define ADMIN_AGENT_CREATE_JOIN_TOKEN "/sigil.admin.v1.AgentAPI/CreateJoinToken"

#define ADMIN_BUNDLE_GET "/sigil.admin.v1.BundleAPI/GetBundle"
#define ADMIN_BUNDLE_LIST_FEDERATED "/sigil.admin.v1.BundleAPI/ListFederatedBundles"
#define ADMIN_BUNDLE_SET_FEDERATED "/sigil.admin.v1.BundleAPI/SetFederatedBundle"
#define ADMIN_BUNDLE_DELETE_FEDERATED "/sigil.admin.v1.BundleAPI/DeleteFederatedBundle"

#define ADMIN_SVID_MINT_X509 "/sigil.admin.v1.SVIDAPI/MintX509SVID"
#define ADMIN_SVID_MINT_JWT "/sigil.admin.v1.SVIDAPI/MintJWTSVID"

#define ADMIN_HEALTH_CHECK "/sigil.admin.v1.HealthAPI/Check"
