"""`redwhistle serve` as it runs for real: API processes answering, and
`redwhistle follow` in a child process keeping the views, started again when
it dies, stopped with serve."""
from __future__ import annotations

import os
import signal
from datetime import date, timedelta

import httpx

from bench.ingest_bench import Server, is_follow, process_tree
from adapters.settings import Settings
from tests import story
from tests.kafka_story import wait_for


def _follow_pids(server: Server) -> list[int]:
    return [pid for pid in process_tree(server.proc.pid) if is_follow(pid)]


def test_serve_keeps_the_views_in_a_child_it_restarts(database_url):
    auth = story.admin_auth(database_url)
    today = date.today()
    rates = (f"/v1/dashboard/response-rates?by=department&from={today - timedelta(days=1)}"
             f"&to={today + timedelta(days=2)}")

    def fire_summonses(api: httpx.Client, after: int) -> int:
        got = api.get(f"{rates}&after={after}", headers=auth)
        assert got.status_code == 200, got.text
        return sum(r["summonses"] for r in got.json()["rows"] if r["key"] == "fire")

    with Server(database_url, workers=2) as server, \
            httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=20) as api:
        assert api.post("/v1/compounds", json=story.compound(), headers=auth).status_code == 201
        first = api.post("/v1/compounds/HD-001/whistles", json=story.whistle(["fire"]),
                         headers=auth)
        assert first.status_code == 201, first.text
        assert fire_summonses(api, first.json()["position"]) == 1

        [child] = wait_for(lambda: _follow_pids(server), 10, "the follow child")
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: [p for p in _follow_pids(server) if p != child], 15, "a new follow child")
        second = api.post("/v1/compounds/HD-001/whistles", json=story.whistle(["fire"]),
                          headers=auth)
        assert second.status_code == 201, second.text
        assert fire_summonses(api, second.json()["position"]) == 2
        followers = _follow_pids(server)
    # serve stopped: its follower went with it
    wait_for(lambda: not any(os.path.exists(f"/proc/{p}") and
                          open(f"/proc/{p}/stat").read().split()[2] != "Z" for p in followers),
          15, "the follower to stop")


def test_workers_read_what_serve_exports_unless_set(monkeypatch):
    from adapters.settings import export_for_workers
    monkeypatch.delenv("WRITE_CACHE_CHECK", raising=False)
    export_for_workers(WRITE_CACHE_CHECK="1")
    assert Settings.from_env().write_cache_check
    monkeypatch.setenv("WRITE_CACHE_CHECK", "0")  # given explicitly: it wins
    export_for_workers(WRITE_CACHE_CHECK="1")
    assert not Settings.from_env().write_cache_check
