-- SPDX-License-Identifier: Apache-2.0
-- 0001: the first schema of the sigil-server datastore.
--
-- Applied by datastore-sqlite.c inside one transaction, which then sets
-- PRAGMA user_version to this file's number. Never edit a migration that has
-- shipped: add the next NNNN-*.sql instead.

-- 'SIGL': lets datastore_open() refuse an SQLite file that is not ours.
PRAGMA application_id = 1397311308;

-- Registration entries. Rows are found by the text ID (the API's handle, also
-- the paging order); child tables refer to the integer pk, which keeps them
-- and their indexes small.
CREATE TABLE entries (
        pk              INTEGER PRIMARY KEY,
        id              TEXT NOT NULL UNIQUE,
        spiffe_id       TEXT NOT NULL,
        parent_id       TEXT NOT NULL,
        -- sigil_selector_set_to_string() of the selector set: canonical, so the
        -- UNIQUE index below detects the same registration in one lookup.
        selector_key    TEXT NOT NULL,
        n_selectors     INTEGER NOT NULL CHECK (n_selectors > 0),
        x509_svid_ttl   INTEGER NOT NULL,
        jwt_svid_ttl    INTEGER NOT NULL,
        admin           INTEGER NOT NULL CHECK (admin IN (0, 1)),
        downstream      INTEGER NOT NULL CHECK (downstream IN (0, 1)),
        expires_at      INTEGER NOT NULL CHECK (expires_at >= 0),
        hint            TEXT NOT NULL,
        revision_number INTEGER NOT NULL,
        created_at      INTEGER NOT NULL
) STRICT;

-- Duplicate detection; also serves the spiffe_id filter (leftmost column).
CREATE UNIQUE INDEX entries_registration ON entries (spiffe_id, parent_id, selector_key);
-- The parent_id and hint filters, already in paging order. Most entries have
-- no hint; leaving them out of the index keeps their inserts cheaper.
CREATE INDEX entries_parent_id ON entries (parent_id, id);
CREATE INDEX entries_hint ON entries (hint, id) WHERE hint <> '';
CREATE INDEX entries_expires_at ON entries (expires_at) WHERE expires_at > 0;

-- One row per selector, as "type:value" (the type never contains ':').
CREATE TABLE entry_selectors (
        entry_pk        INTEGER NOT NULL REFERENCES entries (pk) ON DELETE CASCADE,
        selector        TEXT NOT NULL,
        PRIMARY KEY (entry_pk, selector)
) STRICT, WITHOUT ROWID;
-- Selector filters start from the selectors they name.
CREATE INDEX entry_selectors_selector ON entry_selectors (selector, entry_pk);

-- DNS names in the order given (the first one may become the subject CN).
CREATE TABLE entry_dns_names (
        entry_pk        INTEGER NOT NULL REFERENCES entries (pk) ON DELETE CASCADE,
        pos             INTEGER NOT NULL,
        name            TEXT NOT NULL,
        PRIMARY KEY (entry_pk, pos)
) STRICT, WITHOUT ROWID;

CREATE TABLE entry_federates_with (
        entry_pk        INTEGER NOT NULL REFERENCES entries (pk) ON DELETE CASCADE,
        pos             INTEGER NOT NULL,
        trust_domain    TEXT NOT NULL,
        PRIMARY KEY (entry_pk, pos)
) STRICT, WITHOUT ROWID;
CREATE INDEX entry_federates_with_td ON entry_federates_with (trust_domain, entry_pk);

-- One row per entry change, written in the change's transaction. The writer
-- assigns event_id = max(last row, entry_events_pruned.through) + 1, so IDs
-- only grow, even after pruning removed every row. (Not AUTOINCREMENT: that
-- costs a sqlite_sequence write per change.)
CREATE TABLE entry_events (
        event_id        INTEGER PRIMARY KEY,
        kind            INTEGER NOT NULL CHECK (kind BETWEEN 0 AND 2),
        entry_id        TEXT NOT NULL,
        created_at      INTEGER NOT NULL
) STRICT;

-- The highest event ID pruning has removed: a reader that saw less missed events.
CREATE TABLE entry_events_pruned (
        one             INTEGER PRIMARY KEY CHECK (one = 1),
        through         INTEGER NOT NULL
) STRICT;
INSERT INTO entry_events_pruned (one, through) VALUES (1, 0);

-- Join tokens: only the SHA-256 (lowercase hex) of each token is kept.
CREATE TABLE join_tokens (
        token_hash      TEXT PRIMARY KEY CHECK (length(token_hash) = 64),
        expires_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE attested_nodes (
        pk              INTEGER PRIMARY KEY,
        spiffe_id       TEXT NOT NULL UNIQUE,
        attestation_type TEXT NOT NULL,
        serial          TEXT,
        expires_at      INTEGER NOT NULL,
        new_serial      TEXT,
        new_expires_at  INTEGER NOT NULL,
        banned          INTEGER NOT NULL CHECK (banned IN (0, 1)),
        created_at      INTEGER NOT NULL,
        last_seen_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE node_selectors (
        node_pk         INTEGER NOT NULL REFERENCES attested_nodes (pk) ON DELETE CASCADE,
        selector        TEXT NOT NULL,
        PRIMARY KEY (node_pk, selector)
) STRICT, WITHOUT ROWID;
CREATE INDEX node_selectors_selector ON node_selectors (selector, node_pk);

-- SPIFFE bundle JSON per trust domain, ours and federated ones.
CREATE TABLE bundles (
        trust_domain    TEXT PRIMARY KEY,
        bundle          TEXT NOT NULL CHECK (json_valid(bundle))
) STRICT;

CREATE TABLE kv (
        key             TEXT PRIMARY KEY,
        value           TEXT NOT NULL
) STRICT;
