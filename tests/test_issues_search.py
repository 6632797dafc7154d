"""`q` on the list of issues (issue 14): words in the description, Chinese
included, of any length. On PostgreSQL a word of three characters or more is
looked up in the trigram index of the descriptions, a shorter one (most
Chinese words are two characters) has no trigram and is matched row by row:
both must answer alike, on SQLite and PostgreSQL."""
from __future__ import annotations

from projections.issues.view import IssuesView
from tests.test_issues_list import city, get, names


def test_short_and_long_words_chinese_and_latin(client, auth, clock, services):
    # The four descriptions (tests/test_issues_list.py's city):
    #   a 楼道里堆满杂物，堵塞消防通道   b Noise after midnight
    #   c 电动车飞线充电 100%_sure       d No water since morning
    ids, pos = city(client, auth, clock)
    q = lambda words: names(get(client, auth["admin"], "/v1/issues", after=pos,  # noqa: E731
                                q=words), ids)
    assert q("杂物") == {"a"}  # two characters: no trigram
    assert q("堵") == {"a"}  # one
    assert q("消防通道") == {"a"}  # four: by the index on PostgreSQL
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
        view = IssuesView()
        found = services.db.fetchall(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = ? AND indexname = ?",
            [services.db.schema, view._text_index("")])
        assert len(found) == 1 and "gin_trgm_ops" in found[0][0]
