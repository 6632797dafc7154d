-- Tokens that can be listed, revoked and expire (service_layer/tokens.py).
-- Times are ISO-8601 UTC text. Every create and revoke moves the one row of
-- rw_token_generation on, so each API process forgets what it remembered of
-- tokens within a second.
ALTER TABLE rw_tokens ADD COLUMN created_at TEXT;
ALTER TABLE rw_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE rw_tokens ADD COLUMN revoked_at TEXT;
CREATE TABLE IF NOT EXISTS rw_token_generation (id INTEGER PRIMARY KEY,
    generation BIGINT NOT NULL);
INSERT INTO rw_token_generation (id, generation) VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
