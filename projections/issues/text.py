"""Searching the descriptions of issues (`q`): each word must occur in the
description, as a substring of it, whatever the case, so Chinese, written
without spaces, matches too.

SQLite: LOWER(description) LIKE '%word%', row by row.

PostgreSQL: a GIN index of trigrams (pg_trgm) answers LIKE without reading
every row, but only for words of three characters or more, and most Chinese
words are two. So the index and the query both read the description
*tripled*: every character three times (`tripled`: 电梯 -> 电电电梯梯梯,
q -> qqq). A word of any length and script then has trigrams of its own
(电电电, 电电梯, 电梯梯, 梯梯梯), those of the characters next to each other
as in the word. Tripling both sides changes no answer: the tripled word
occurs in the tripled description exactly where the word occurs in the
description (wherever a match starts, each run of three of the word begins
in the run of one character of the description, the next run in the next,
so the characters agree one by one). pg_trgm keeps only letters and
digits: a word with none (`%`, `-`, `。`) has no trigram and is matched as
on SQLite, row by row along the list's order.

Tripling costs each row it reads a regular expression, so the query also
asks the plain LIKE, which the rows along the sort's index meet first
(projections/issues/query.py); a common word is read that way.
"""
from __future__ import annotations

import logging

from adapters.db import Cursor

log = logging.getLogger("redwhistle.views")

TEXT_INDEX = "description_tripled"  # the index's name, after the view's and the table's
# The same tripling in SQL (over LOWER(column)) and in Python (over a word).
_TRIPLED_SQL = r"regexp_replace(LOWER({}), '(.)', '\1\1\1', 'g')"


def tripled_sql(column: str) -> str:
    """The tripled lower-case text of `column`: the trigram index's expression."""
    return _TRIPLED_SQL.format(column)


def tripled(word: str) -> str:
    return "".join(c * 3 for c in word.lower())


def contains(word: str) -> str:
    """The LIKE pattern (escape character `\\`) of text that contains `word`,
    lower-case."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def indexed(word: str) -> bool:
    """Whether the trigram index can find `word`: one with a letter or digit.
    One that it cannot is matched without tripling, which costs each row
    read less."""
    return any(c.isalnum() for c in word)


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
