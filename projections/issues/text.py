"""Searching the descriptions of issues (`q`): each word must occur in the
description, as a substring of it, whatever the case, so Chinese, written
without spaces, matches too.

SQLite: LOWER(description) LIKE '%word%', row by row.

PostgreSQL: a GIN index of trigrams (pg_trgm) answers LIKE without reading
every row, but only for words of three characters or more, and most Chinese
words are two. So two trigram indexes read the description rewritten:

- *spaced*: every character beyond ASCII stands alone between spaces
  (`spaced`: 飞线 -> " 飞  线 "), which pg_trgm pads into trigrams of its
  own ("  飞", " 飞 "). A Chinese word of any length is then looked up by
  its characters, a Latin word of three or more by its trigrams. Spacing
  both sides changes no answer: the word has no whitespace (q is split on
  it), so the spaced word occurs in the spaced description exactly where
  the word occurs in the description.
- *tripled*: every run of characters other than ASCII letters and digits
  one space, then each character three times ("ZQ-1" -> "zzzqqq   111"). A word of one or two ASCII
  letters or digits, tripled alike, then has trigrams of its own (q ->
  "qqq"; zq -> "zzzqqq": "zzz", "zzq", "zqq", "qqq"), and occurs in the
  tripled description exactly where the word occurs in the description. A
  short word with anything else ("a-", "%") is matched row by row, as on
  SQLite.

Rewriting costs each row it reads regular expressions, so the query also
asks the plain LIKE, which the rows along the sort's index meet first
(projections/issues/query.py); a common short word is read that way, as it
was before either index.
"""
from __future__ import annotations

import logging
import re

from adapters.db import Cursor

log = logging.getLogger("redwhistle.views")

# The same spacing in SQL (over LOWER(column)) and in Python (over a word).
_SPACED_SQL = r"regexp_replace(LOWER({}), '([^\x01-\x7f])', ' \1 ', 'g')"
_BEYOND_ASCII = re.compile(r"([^\x00-\x7f])")
# The tripling in SQL; a word's is in `indexed`.
_TRIPLED_SQL = (r"regexp_replace(regexp_replace(LOWER({}), '[^a-z0-9]+', ' ', 'g'), "
                r"'(.)', '\1\1\1', 'g')")


def spaced_sql(column: str) -> str:
    """The spaced lower-case text of `column`: the trigram index's expression."""
    return _SPACED_SQL.format(column)


def tripled_sql(column: str) -> str:
    """The tripled lower-case text of `column`: the expression of the trigram
    index of short ASCII words."""
    return _TRIPLED_SQL.format(column)


def text_indexes(column: str) -> dict[str, str]:
    """The trigram indexes' expressions over `column`, by the name's suffix."""
    return {"description_trgm": spaced_sql(column),
            "description_tripled": tripled_sql(column)}


def spaced(word: str) -> str:
    return _BEYOND_ASCII.sub(r" \1 ", word.lower())


def contains(word: str) -> str:
    """The LIKE pattern (escape character `\\`) of text that contains `word`,
    lower-case."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped.lower()}%"


def indexed(column: str, word: str) -> tuple[str, str] | None:
    """The expression of a trigram index that can find `word` in `column`
    and the LIKE pattern to look for in it; None when neither can, and
    `word` is matched without rewriting, which costs each row read less."""
    if len(word) >= 3 or not word.isascii():
        return spaced_sql(column), contains(spaced(word))
    if word.isalnum():  # ASCII: a-z, A-Z, 0-9
        return tripled_sql(column), f"%{''.join(c * 3 for c in word.lower())}%"
    return None


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
