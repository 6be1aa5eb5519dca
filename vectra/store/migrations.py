"""Forward-only schema migrations. The position is kept in SQLite's ``user_version``."""

from __future__ import annotations

import sqlite3

from vectra.store.agent_rows import search_fold

__all__ = ["MIGRATIONS", "MIN_SQLITE", "SCHEMA_VERSION", "migrate"]

MIGRATIONS: tuple[str, ...] = (
    # 1: agents
    """
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        owner_id TEXT,
        status TEXT NOT NULL,
        policy_name TEXT,
        trust_score REAL NOT NULL,
        roles TEXT NOT NULL,
        secret_hash BLOB NOT NULL,
        created_at TEXT NOT NULL,
        last_seen_at TEXT
    );
    CREATE INDEX agents_created ON agents (created_at, id);
    CREATE INDEX agents_policy ON agents (policy_name);
    """,
    # 2: policies and every version of each
    """
    CREATE TABLE policies (
        name TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE policy_versions (
        name TEXT NOT NULL REFERENCES policies (name) ON DELETE CASCADE,
        version INTEGER NOT NULL,
        document TEXT NOT NULL,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        PRIMARY KEY (name, version)
    );
    """,
    # 3: audit_log: each record's canonical JSON (the bytes its hash covers) plus copies of the fields
    # the list filters on; verification checks the copies against the JSON.
    """
    CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        agent_id TEXT,
        source TEXT NOT NULL,
        action TEXT NOT NULL,
        decision TEXT,
        hash TEXT NOT NULL,
        record TEXT NOT NULL
    );
    CREATE INDEX audit_log_agent ON audit_log (agent_id, id);
    CREATE INDEX audit_log_decision ON audit_log (decision, id);
    CREATE INDEX audit_log_time ON audit_log (time);
    """,
    # 4: pending_requests: calls parked for a human (HITL), with the exact bytes to replay. ``headers`` is a JSON
    # list of [name, value] pairs in their order; the gateway token is never among them.
    """
    CREATE TABLE pending_requests (
        id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        method TEXT NOT NULL,
        url TEXT NOT NULL,
        headers TEXT NOT NULL,
        body BLOB NOT NULL,
        rule TEXT,
        reason TEXT,
        risk REAL,
        policy_name TEXT,
        policy_version INTEGER,
        status TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    );
    CREATE INDEX pending_requests_status ON pending_requests (status, created_at);
    CREATE INDEX pending_requests_agent ON pending_requests (agent_id, created_at);
    """,
    # 5: the review itself: the digest an approval is bound to, secret header values sealed apart from the rest
    # (``headers`` holds them empty), the decision and the replay's outcome (``outcome`` JSON: status, headers,
    # bodySize, error; ``outcome_body`` the first bytes of the answer; ``outcome_sealed`` its secret header values).
    # Times are fixed-width UTC text.
    """
    ALTER TABLE pending_requests ADD COLUMN sealed_headers BLOB;
    ALTER TABLE pending_requests ADD COLUMN body_size INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE pending_requests ADD COLUMN risk_factors TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE pending_requests ADD COLUMN digest TEXT NOT NULL DEFAULT '';
    ALTER TABLE pending_requests ADD COLUMN decided_by TEXT;
    ALTER TABLE pending_requests ADD COLUMN decided_at TEXT;
    ALTER TABLE pending_requests ADD COLUMN comment TEXT;
    ALTER TABLE pending_requests ADD COLUMN outcome TEXT;
    ALTER TABLE pending_requests ADD COLUMN outcome_body BLOB;
    ALTER TABLE pending_requests ADD COLUMN outcome_sealed BLOB;
    UPDATE pending_requests SET body_size = length(body);
    CREATE INDEX pending_requests_due ON pending_requests (status, expires_at);
    """,
    # 6: a counter that moves with every change to ``policies``, so that a decision learns whether any policy
    # changed from one row of its own rather than from the whole database's commits (the audit log's among them)
    """
    CREATE TABLE policy_generation (id INTEGER PRIMARY KEY CHECK (id = 1), generation INTEGER NOT NULL);
    INSERT INTO policy_generation (id, generation) VALUES (1, 0);
    CREATE TRIGGER policies_inserted AFTER INSERT ON policies
        BEGIN UPDATE policy_generation SET generation = generation + 1; END;
    CREATE TRIGGER policies_updated AFTER UPDATE ON policies
        BEGIN UPDATE policy_generation SET generation = generation + 1; END;
    CREATE TRIGGER policies_deleted AFTER DELETE ON policies
        BEGIN UPDATE policy_generation SET generation = generation + 1; END;
    """,
    # 7: one row the health probe rewrites, to learn that the database still takes writes (docs/audit.md)
    """
    CREATE TABLE write_probe (id INTEGER PRIMARY KEY CHECK (id = 1), written_at TEXT NOT NULL);
    """,
    # 8: the registry (docs/registry.md): realms; an agent's realm, profile, capabilities (as JSON, what is read
    # back, and as a bitmask, what the "having all of" filter tests: each capability name gets a bit of its own in
    # capability_bits the first time an agent has it, and keeps it, whatever the vocabulary becomes), the text that q
    # searches (search_text: see agent_rows.search_text), Ed25519 key and the realms an admin or reviewer is limited
    # to; self-registrations waiting for approval; the assertions already exchanged for a token (their jti may never
    # be used again). Indexed for every filter and sort of GET /agents; the realm, status, owner and lastSeen indexes
    # end with last_seen_at and capability_bits, so that the list's two counts (matches, online ones) read them
    # alone, with or without a capabilities filter; agents_search holds what q searches, so that its counts read
    # that index rather than the table (a substring can't be looked up in a B-tree: it is still a scan). The agents
    # of before the registry have no capabilities (bits 0) and no did; their search_text folds the name as the store
    # does for every agent it writes (search_fold, a function migrate() gives the connection).
    # agent_search is a trigram index of search_text (FTS5), kept by triggers and keyed by seq, an integer of the
    # agent's own (the rowid of a table without an INTEGER PRIMARY KEY may change in a VACUUM): a q of three
    # characters or more looks its candidates up there, and instr on search_text then decides each one.
    """
    CREATE TABLE realms (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        slug TEXT NOT NULL UNIQUE,
        color TEXT,
        created_at TEXT NOT NULL
    );
    ALTER TABLE agents ADD COLUMN realm_id TEXT REFERENCES realms (id);
    ALTER TABLE agents ADD COLUMN version TEXT;
    ALTER TABLE agents ADD COLUMN description TEXT;
    ALTER TABLE agents ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE agents ADD COLUMN capabilities TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE agents ADD COLUMN public_key TEXT;
    ALTER TABLE agents ADD COLUMN did TEXT;
    ALTER TABLE agents ADD COLUMN scope_realms TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE agents ADD COLUMN capability_bits INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE agents ADD COLUMN search_text TEXT NOT NULL DEFAULT '';
    UPDATE agents SET search_text = search_fold(name) || char(10) || id || char(10) || lower(ifnull(did, ''));
    CREATE TABLE capability_bits (
        name TEXT PRIMARY KEY,
        bit INTEGER NOT NULL UNIQUE CHECK (bit BETWEEN 0 AND 62)
    ) WITHOUT ROWID;
    CREATE UNIQUE INDEX agents_did ON agents (did) WHERE did IS NOT NULL;
    CREATE INDEX agents_realm ON agents (realm_id, created_at, id, last_seen_at, capability_bits);
    CREATE INDEX agents_name ON agents (name COLLATE NOCASE, id);
    CREATE INDEX agents_seen ON agents (last_seen_at, id, capability_bits);
    CREATE INDEX agents_trust ON agents (trust_score, id);
    CREATE INDEX agents_status ON agents (status, created_at, id, last_seen_at, capability_bits);
    CREATE INDEX agents_owner ON agents (owner_id, created_at, id, last_seen_at, capability_bits);
    CREATE INDEX agents_search ON agents (search_text, last_seen_at);
    ALTER TABLE agents ADD COLUMN seq INTEGER;
    UPDATE agents SET seq = rowid;
    CREATE UNIQUE INDEX agents_seq ON agents (seq);
    CREATE VIRTUAL TABLE agent_search USING fts5 (text, tokenize = 'trigram case_sensitive 1');
    INSERT INTO agent_search (rowid, text) SELECT seq, search_text FROM agents;
    CREATE TRIGGER agents_search_inserted AFTER INSERT ON agents
        BEGIN INSERT INTO agent_search (rowid, text) VALUES (new.seq, new.search_text); END;
    CREATE TRIGGER agents_search_changed AFTER UPDATE OF search_text ON agents
        BEGIN UPDATE agent_search SET text = new.search_text WHERE rowid = new.seq; END;
    CREATE TRIGGER agents_search_deleted AFTER DELETE ON agents
        BEGIN DELETE FROM agent_search WHERE rowid = old.seq; END;
    CREATE TABLE registrations (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version TEXT,
        description TEXT,
        metadata TEXT NOT NULL,
        requested_capabilities TEXT NOT NULL,
        public_key TEXT NOT NULL,
        did TEXT NOT NULL,
        source TEXT,
        status TEXT NOT NULL,
        requested_at TEXT NOT NULL,
        decided_at TEXT,
        decided_by TEXT,
        reason TEXT,
        agent_id TEXT,
        granted_capabilities TEXT
    );
    CREATE INDEX registrations_status ON registrations (status, requested_at);
    CREATE UNIQUE INDEX registrations_pending_did ON registrations (did) WHERE status = 'Pending';
    CREATE TABLE used_assertions (
        agent_id TEXT NOT NULL,
        jti TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        PRIMARY KEY (agent_id, jti)
    ) WITHOUT ROWID;
    CREATE INDEX used_assertions_expiry ON used_assertions (expires_at);
    """,
    # 9: governed sessions (docs/sessions.md): an agent's own session limits (JSON, the defaults' where a limit is
    # unset), the agent that registered it and the policy version judging its calls in shadow; the sessions; the
    # session of a parked request; and, copied out of each audit record's details for their filters, its session and
    # whether its shadow policy agreed (1), disagreed (0) or judged nothing (NULL). Verification checks the copies.
    # A session's counts read its records' action and decision from audit_log_session alone.
    """
    ALTER TABLE agents ADD COLUMN governance TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE agents ADD COLUMN parent_agent_id TEXT;
    ALTER TABLE agents ADD COLUMN shadow_policy TEXT;
    CREATE INDEX agents_parent ON agents (parent_agent_id) WHERE parent_agent_id IS NOT NULL;
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        agent_id TEXT NOT NULL,
        status TEXT NOT NULL,
        metadata TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        ended_at TEXT,
        end_reason TEXT,
        ended_by TEXT,
        policy_name TEXT,
        policy_version INTEGER
    );
    CREATE INDEX sessions_agent ON sessions (agent_id, created_at);
    CREATE INDEX sessions_status ON sessions (status, expires_at);
    ALTER TABLE pending_requests ADD COLUMN session_id TEXT;
    CREATE INDEX pending_requests_session ON pending_requests (session_id, status) WHERE session_id IS NOT NULL;
    ALTER TABLE audit_log ADD COLUMN session_id TEXT;
    ALTER TABLE audit_log ADD COLUMN shadow INTEGER;
    CREATE INDEX audit_log_session ON audit_log (session_id, id, action, decision) WHERE session_id IS NOT NULL;
    CREATE INDEX audit_log_shadow ON audit_log (agent_id, shadow, id) WHERE shadow IS NOT NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
#: FTS5's trigram tokenizer came with SQLite 3.34
MIN_SQLITE = (3, 34)


def migrate(conn: sqlite3.Connection) -> int:
    """Run every migration past the database's version, each in its own transaction."""
    if sqlite3.sqlite_version_info < MIN_SQLITE:
        raise RuntimeError(f"SQLite {sqlite3.sqlite_version} is too old: Vectra needs {'.'.join(map(str, MIN_SQLITE))} "
                           "or newer (the trigram search index of migration 8)")
    conn.create_function("search_fold", 1, search_fold, deterministic=True)
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current > SCHEMA_VERSION:
        raise RuntimeError(
            f"database schema version {current} is newer than this Vectra ({SCHEMA_VERSION}); upgrade Vectra"
        )
    for version in range(current + 1, SCHEMA_VERSION + 1):
        script = MIGRATIONS[version - 1]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION


def _statements(script: str) -> list[str]:
    """The script's statements, split where SQLite says one is complete (a trigger's body holds semicolons)."""
    statements, pending = [], ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n;"):
                statements.append(pending)
            pending = ""
    return statements
