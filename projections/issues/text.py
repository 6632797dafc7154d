"""Searching the descriptions of issues (`q`): each word must occur in the
description, as a substring of it, whatever the case, so Chinese, written
without spaces, matches too.

SQLite: LOWER(description) LIKE '%word%', row by row.

PostgreSQL: a GIN index of trigrams (pg_trgm) answers LIKE without reading
every row, but only for words of three characters or more, and most Chinese
words are two. So the index and the query both read the description
*spaced*: every character beyond ASCII stands alone between spaces
(`spaced`: 飞线 -> " 飞  线 "), which pg_trgm pads into trigrams of its own
("  飞", " 飞 "). A Chinese word of any length is then looked up by its
characters, a Latin word of three or more by its trigrams; an ASCII word of
one or two characters has none and is matched as on SQLite, row by row
along the list's order (fast when it is common, as such words are). Spacing
both sides changes no answer: the word has no whitespace (q is split on it),
so the spaced word occurs in the spaced description exactly where the word
occurs in the description. Spacing costs each row it reads a regular
expression, so the query also asks the plain LIKE, which the rows along the
sort's index meet first (projections/issues/query.py).
"""
from __future__ import annotations

import logging
import re

from adapters.db import Cursor

log = logging.getLogger("redwhistle.views")

# The same spacing in SQL (over LOWER(column)) and in Python (over a word).
_SPACED_SQL = r"regexp_replace(LOWER({}), '([^\x01-\x7f])', ' \1 ', 'g')"
_BEYOND_ASCII = re.compile(r"([^\x00-\x7f])")


def spaced_sql(column: str) -> str:
    """The spaced lower-case text of `column`: the trigram index's expression."""
    return _SPACED_SQL.format(column)


def spaced(word: str) -> str:
    return _BEYOND_ASCII.sub(r" \1 ", word.lower())


def indexed(word: str) -> bool:
    """Whether the trigram index can find `word`; one that it cannot is
    matched without spacing, which costs each row read more than LIKE."""
    return len(word) >= 3 or not word.isascii()


def trigram_ops(cur: Cursor) -> str | None:
    """PostgreSQL's trigram operator class, qualified by the schema pg_trgm is
    in; the extension is created (in `public`, shared by every schema of the
    database, else in the current one) when it is not there yet. None, with
    a log line, when it cannot be: `q` then still answers, by reading rows."""
    find = "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    cur.execute(find)
    found, reason = cur.fetchone(), ""
    for create in ("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public",
                   "CREATE EXTENSION IF NOT EXISTS pg_trgm"):
        if found is not None:
            break
        cur.execute("SAVEPOINT rw_trgm")
        try:
            cur.execute(create)
        except Exception as e:  # noqa: BLE001 - not allowed, not installed, or a race
            cur.execute("ROLLBACK TO SAVEPOINT rw_trgm")
            first = (str(e).strip().splitlines() or [""])[0]
            reason = f"{type(e).__name__}: {first}"
        else:
            cur.execute("RELEASE SAVEPOINT rw_trgm")
        cur.execute(find)  # created here, or meanwhile by another session
        found = cur.fetchone()
    if found is None:
        log.warning("pg_trgm cannot be created (%s): searching issue descriptions (q) reads "
                    "rows without an index", reason)
        return None
    return f"{found[0]}.gin_trgm_ops"
