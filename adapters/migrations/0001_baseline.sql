-- The tables of release 0.1 that hold state, exactly as that release made
-- them. IF NOT EXISTS: a database made by 0.1 kept no record of migrations,
-- and is adopted as it stands. Plain SQL that SQLite and PostgreSQL both take;
-- names are unqualified (yoyo sets PostgreSQL's search_path to the schema).

-- Bearer tokens: only the SHA-256 of each (service_layer/tokens.py).
CREATE TABLE IF NOT EXISTS rw_tokens (digest TEXT PRIMARY KEY, name TEXT NOT NULL,
    role TEXT NOT NULL, department TEXT, street TEXT, grids TEXT);

-- The relay's position in the log and what it learnt up to there (consumers/relay_store.py).
CREATE TABLE IF NOT EXISTS rw_relay_position (relay TEXT PRIMARY KEY,
    position BIGINT NOT NULL, published_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rw_relay_aggregates (originator_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL, code TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rw_relay_issues (originator_id TEXT NOT NULL,
    issue_id TEXT NOT NULL, departments TEXT NOT NULL, PRIMARY KEY (originator_id, issue_id));

-- The audit hash chain and its seals (projections/chain.py).
CREATE TABLE IF NOT EXISTS rw_audit_chain (position BIGINT PRIMARY KEY,
    digest TEXT NOT NULL, recorded_at TEXT);
CREATE INDEX IF NOT EXISTS rw_audit_chain_recorded_at ON rw_audit_chain (recorded_at);
CREATE TABLE IF NOT EXISTS rw_audit_seals (position BIGINT PRIMARY KEY,
    digest TEXT NOT NULL, sealed_at TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0);

-- The position each view has reached (projections/base.py).
CREATE TABLE IF NOT EXISTS rw_tracking (view TEXT PRIMARY KEY, position BIGINT NOT NULL);
