"""`q` on the list of issues (issue 14): words in the description, Chinese
included, of any length. On PostgreSQL a word with a letter or digit is
looked up in the trigram index of the tripled descriptions, any other row by
row (projections/issues/text.py): both must answer as a substring match
does, on SQLite and PostgreSQL."""
from __future__ import annotations

from adapters.settings import Settings
from projections.issues.text import contains, indexed, tripled, tripled_sql
from projections.issues.view import IssuesView
from service_layer.bootstrap import bootstrap
from tests import story
from tests.test_issues_list import city, get, names, write


def test_short_and_long_words_chinese_and_latin(client, auth, clock, services):
    # The four descriptions (tests/test_issues_list.py's city):
    #   a 楼道里堆满杂物，堵塞消防通道   b Noise after midnight
    #   c 电动车飞线充电 100%_sure       d No water since morning
    ids, pos = city(client, auth, clock)
    q = lambda words: names(get(client, auth["admin"], "/v1/issues", after=pos,  # noqa: E731
                                q=words), ids)
    assert q("杂物") == {"a"}  # two characters
    assert q("堵") == {"a"}  # one
    assert q("消防通道") == {"a"}  # four
    assert q("电动车") == {"c"}  # three
    assert q("飞线充电") == {"c"}
    assert q("楼道 杂物") == {"a"}  # every word must occur, long or short
    assert q("楼道 飞线") == set()
    assert q("no") == {"b", "d"}  # "Noise", "No water": a substring, any case
    assert q("MIDNIGHT") == {"b"}
    assert q("ter sin") == {"d"}  # inside words too ("water since")
    assert q("不存在") == set()
    assert q("%_s") == {"c"}  # "100%_sure": wildcards are literal
    if services.db.is_postgres:
        # The index is there (pg_trgm is available on the test server).
        db, view = services.db, IssuesView()
        indexdef = "SELECT indexdef FROM pg_indexes WHERE schemaname = ? AND indexname = ?"
        found = db.fetchall(indexdef, [db.schema, view._text_index("")])
        assert len(found) == 1 and "gin_trgm_ops" in found[0][0]

# Short ASCII words (one or two letters or digits) next to Chinese, at the
# ends of the text, in other case, after punctuation; and words with no index.
SHORT = {"a": "12号楼电梯坏了", "b": "Lift stuck at floor 12, ZQ-7", "c": "x", "d": "楼Q",
         "e": "aZ。zq", "f": "No water 3", "g": "漏水 A1b2", "h": "q", "i": "电梯 ab-c d%e"}
WORDS = ("12", "zq", "ZQ", "q", "Q", "z", "x", "7", "3", "1b", "b2", "a1", "no", "a", "b",
         "c", "2", "21", "qz", "楼", "楼q", "q楼", "12号", "-7", "b-", "%", "d%", "-", "。z",
         "t 1", "zq 12", "lift 12", "b2 漏")


def test_short_ascii_words_match_as_substrings(client, auth, clock, services):
    pos = write(client, auth["admin"], "/v1/compounds", story.compound("HD-9"))
    ids = {}
    for name, desc in SHORT.items():
        clock.advance(minutes=1)
        body = story.whistle(["fire"], description=desc)
        pos = write(client, auth["admin"], "/v1/compounds/HD-9/whistles", body)
        ids[name] = body["issue_id"]
    for words in WORDS:
        expected = {n for n, d in SHORT.items() if all(w.lower() in d.lower()
                                                       for w in words.split())}
        assert names(get(client, auth["admin"], "/v1/issues", after=pos, q=words),
                     ids) == expected, words


def test_tripled_finds_every_row_a_word_occurs_in(postgres_schema):
    """The index's own condition alone (the plain LIKE left out) finds
    exactly the descriptions that contain the word: it misses none. (The
    index is PostgreSQL's.)"""
    services = bootstrap(Settings(database_url=postgres_schema))
    try:
        _tripled_finds_every_row(services)
    finally:
        services.close()


def _tripled_finds_every_row(services) -> None:
    texts = [*SHORT.values(), "楼道里堆满杂物，堵塞消防通道", "电动车飞线充电 100%_sure", "aaab",
             "ＡＢ全角"]
    rows = ", ".join("(?)" for _ in texts)
    words = [w for w in (*WORDS, "杂物", "堵", "消防通道", "%_s", "aab", "ab", "ａｂ", "全角")
             if indexed(w) and " " not in w]
    assert "-" not in words and "%" not in words  # no letter or digit: no trigram
    for word in words:
        found = services.db.fetchall(
            f"SELECT d FROM (VALUES {rows}) v(d) WHERE {tripled_sql('d')} LIKE ? ESCAPE '\\'",
            [*texts, contains(tripled(word))])
        assert {d for (d,) in found} == {d for d in texts if word.lower() in d.lower()}, word
