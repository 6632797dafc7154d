-- Events a view could not fold, set aside so the view goes on
-- (projections/set_aside.py). `prefix` is "" for the live views, else a
-- rebuild's or an audit's scratch build.
CREATE TABLE IF NOT EXISTS rw_set_aside (prefix TEXT NOT NULL, view TEXT NOT NULL,
    position BIGINT NOT NULL, topic TEXT NOT NULL, error TEXT NOT NULL,
    recorded_at TEXT NOT NULL, PRIMARY KEY (prefix, view, position));
