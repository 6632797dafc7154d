"""Personal data a caller sends with an issue (Open311's email, names, phone,
device and account ids), kept outside the event log.

The log is immutable and hash-chained, so nothing personal may enter it:
China's PIPL gives a person the right to have their data erased. Here a row
per issue holds it; `erase` deletes the row (`redwhistle contacts erase
--issue ID`) and the issue's facts stay whole. Only admin and official
tokens are shown these fields (api/routers/open311.py).
"""
from __future__ import annotations

from adapters.db import Database

FIELDS = ("email", "first_name", "last_name", "phone", "device_id", "account_id")


class Contacts:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.table = db.table("rw_contacts")
        # (made by adapters/migrations/0003_contacts.sql)

    def keep(self, issue_id: str, contact: dict[str, str | None]) -> None:
        """Stores what was given (a retry with the same data changes nothing)."""
        values = [contact.get(f) or None for f in FIELDS]
        if not any(values):
            return
        sets = ", ".join(f"{f} = excluded.{f}" for f in FIELDS)
        self.db.execute(f"INSERT INTO {self.table} (issue_id, {', '.join(FIELDS)}) VALUES "
                        f"(?, {', '.join('?' for _ in FIELDS)}) "
                        f"ON CONFLICT (issue_id) DO UPDATE SET {sets}", (issue_id, *values))

    def of(self, issue_ids: list[str]) -> dict[str, dict[str, str | None]]:
        found = {}
        for i in range(0, len(issue_ids), 500):  # old SQLite builds take 999 parameters
            chunk = issue_ids[i:i + 500]
            rows = self.db.fetchall(f"SELECT issue_id, {', '.join(FIELDS)} FROM {self.table} "
                                    f"WHERE issue_id IN ({', '.join('?' for _ in chunk)})", chunk)
            found.update({r[0]: dict(zip(FIELDS, r[1:])) for r in rows})
        return found

    def erase(self, issue_id: str | None = None, email: str | None = None,
              phone: str | None = None) -> int:
        """Deletes the personal data of an issue, or of every issue a person
        (by email or phone) filed; returns how many issues had some."""
        column, value = next((c, v) for c, v in (("issue_id", issue_id), ("email", email),
                                                 ("phone", phone)) if v)
        with self.db.transaction() as cur:
            cur.execute(f"DELETE FROM {self.table} WHERE {column} = ? RETURNING issue_id",
                        (value,))
            return len(cur.fetchall())
