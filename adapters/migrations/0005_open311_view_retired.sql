-- The `open311` view is retired: Open311 reads the issues view's tables
-- (docs/open311.md). Its tables, its tracked position and what it set aside
-- go; the issues view, now of version 2, is refolded by the follower
-- (projections/versions.py). Views make their own tables, but a view that no
-- longer exists cannot drop them.
DROP TABLE IF EXISTS rw_open311_requests;
DROP TABLE IF EXISTS rw_open311_compounds;
DELETE FROM rw_tracking WHERE view = 'open311';
DELETE FROM rw_set_aside WHERE prefix = '' AND view = 'open311';
