-- Personal data an Open311 caller sent, kept outside the event log so that
-- it can be erased on request (service_layer/contacts.py, docs/open311.md).
CREATE TABLE IF NOT EXISTS rw_contacts (issue_id TEXT PRIMARY KEY, email TEXT,
    first_name TEXT, last_name TEXT, phone TEXT, device_id TEXT, account_id TEXT);
