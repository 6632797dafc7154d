"""Hostile input cannot stop Red Whistle: a giant body, an event too large to
store, readers waiting for positions that never come, and a store that does
not answer each get a quick, bounded answer while other callers go on."""
from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from bench.ingest_bench import Server
from projections.registry import all_views
from projections.feed import create_view_tables
from service_layer.bootstrap import bootstrap
from adapters.settings import Settings
from tests import story


def _giant_meeting(attendees: int = 50_000) -> dict:
    name = "Resident {:05d} of the Huayuan compound, building 3, unit 2, floor 5"
    return story.meeting(attendees=[dict(name=name.format(i), organisation="resident")
                                    for i in range(attendees)])


def test_a_giant_body_is_refused_at_once_while_whistles_answer(database_url):
    auth = story.admin_auth(database_url)
    giant = httpx.Request("POST", "/", json=_giant_meeting()).content
    assert len(giant) > 5_000_000

    with Server(database_url, follow=False) as server, \
            httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as api:
        assert api.post("/v1/compounds", json=story.compound(), headers=auth).status_code == 201
        refused: list = []

        def post_giant() -> None:
            started = time.monotonic()
            with httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=30) as other:
                try:
                    got = other.post("/v1/compounds/HD-001/joint-meetings", content=giant,
                                     headers={**auth, "Content-Type": "application/json"})
                    refused.append((got.status_code, time.monotonic() - started))
                except httpx.TransportError as exc:  # the server closed before reading it all
                    refused.append((type(exc).__name__, time.monotonic() - started))

        giants = [threading.Thread(target=post_giant) for _ in range(3)]
        for t in giants:
            t.start()
        for _ in range(5):
            started = time.monotonic()
            got = api.post("/v1/compounds/HD-001/whistles", json=story.whistle(), headers=auth)
            assert got.status_code == 201, got.text
            assert time.monotonic() - started < 1.0
        for t in giants:
            t.join(30)
        assert len(refused) == 3
        assert all(status == 413 and seconds < 5 for status, seconds in refused), refused

        # Sent chunked, without a Content-Length: refused once the bytes pass the cap.
        def chunks():
            for start in range(0, len(giant), 64 * 1024):
                yield giant[start:start + 64 * 1024]

        got = api.post("/v1/compounds/HD-001/joint-meetings", content=chunks(),
                       headers={**auth, "Content-Type": "application/json"})
        assert got.status_code == 413
        assert got.headers["content-type"] == "application/problem+json"
        assert got.json()["type"] == "/problems/too-large"
        assert api.post("/v1/compounds/HD-001/whistles", json=story.whistle(),
                        headers=auth).status_code == 201
        # nothing of the giants was written: registration and six whistles
        assert api.get("/v1/compounds/HD-001", headers=auth).json()["version"] == 7


def test_an_event_too_large_to_store_is_refused_and_nothing_is_stored(database_url, clock):
    services = bootstrap(Settings(database_url=database_url, max_event_bytes=8 * 1024),
                         clock=clock)
    try:
        official = {"Authorization": "Bearer " + services.tokens.create(role="admin", name="o")}
        with TestClient(create_app(services)) as client:
            assert client.post("/v1/compounds", json=story.compound(),
                               headers=official).status_code == 201
            head = services.app.recorder.max_notification_id()
            decisions = [dict(text="Clear the fire lane " + "x" * 1500, owner="Wang",
                              due_on="2026-06-01") for _ in range(10)]
            body = story.meeting(decisions=decisions)
            with ThreadPoolExecutor(4) as pool:
                whistles = [pool.submit(client.post, "/v1/compounds/HD-001/whistles",
                                        json=story.whistle(), headers=official)
                            for _ in range(6)]
                refused = client.post("/v1/compounds/HD-001/joint-meetings", json=body,
                                      headers=official)
                answered = [w.result(timeout=10) for w in whistles]
            assert refused.status_code == 413
            assert [w.status_code for w in answered] == [201] * 6
            assert services.app.recorder.max_notification_id() == answered_max(answered, head)
            # the compound in memory forgot the refused meeting: the next write is whole
            again = client.post("/v1/compounds/HD-001/joint-meetings",
                                json=story.meeting(decisions=decisions[:2]), headers=official)
            assert again.status_code == 201, again.text
            assert len(services.governance.compound("HD-001").decisions) == 2
    finally:
        services.close()


@pytest.mark.parametrize("group_commit", [True, False])
def test_each_save_path_refuses_an_event_too_large(database_url, clock, group_commit):
    from service_layer.store.group_commit import EventTooLarge
    services = bootstrap(Settings(database_url=database_url, max_event_bytes=4096,
                                  group_commit=group_commit), clock=clock)
    try:
        gov = services.governance
        gov.register_compound(**story.compound())
        head = services.app.recorder.max_notification_id()
        decisions = [dict(text="y" * 1500, owner="Wang", due_on="2026-06-01")] * 3
        with pytest.raises(EventTooLarge):
            gov.hold_joint_meeting("HD-001", **story.meeting(decisions=decisions))
        assert services.app.recorder.max_notification_id() == head
        assert gov.hold_joint_meeting("HD-001", **story.meeting(decisions=decisions[:1])).created
        assert services.governance.compound("HD-001").version == 2
    finally:
        services.close()


def answered_max(answered: list, head: int) -> int:
    """The log's head after the whistles: only theirs were added."""
    positions = [w.json()["position"] for w in answered]
    assert min(positions) > head
    return max(positions)


@pytest.fixture
def waiting_client(database_url, clock):
    """The API without a follower, so the views stay where they are."""
    services = bootstrap(Settings(database_url=database_url, max_waiters=80), clock=clock)
    create_view_tables(services.log, all_views())
    admin = {"Authorization": "Bearer " + services.tokens.create(role="admin", name="a")}
    try:
        with TestClient(create_app(services)) as client:
            yield client, admin, services
    finally:
        services.close()


def test_after_beyond_the_head_is_refused_at_once(waiting_client):
    client, admin, services = waiting_client
    assert client.post("/v1/compounds", json=story.compound(), headers=admin).status_code == 201
    head = services.app.recorder.max_notification_id()
    started = time.monotonic()
    got = client.get(f"/v1/rankings/2026?after={head + 1000}", headers=admin)
    assert got.status_code == 409
    assert time.monotonic() - started < 1.0
    assert str(head) in got.text


def test_many_waiters_do_not_hold_up_a_whistle(waiting_client):
    client, admin, services = waiting_client
    assert client.post("/v1/compounds", json=story.compound(), headers=admin).status_code == 201
    head = services.app.recorder.max_notification_id()  # the views have not seen it
    with ThreadPoolExecutor(100) as pool:
        waiters = [pool.submit(client.get, f"/v1/rankings/2026?after={head}", headers=admin)
                   for _ in range(80)]
        time.sleep(0.5)  # all parked
        started = time.monotonic()
        whistle = client.post("/v1/compounds/HD-001/whistles", json=story.whistle(),
                              headers=admin)
        assert whistle.status_code == 201
        assert time.monotonic() - started < 3.0
        # one more than MAX_WAITERS is told to come back
        extra = client.get(f"/v1/rankings/2026?after={head}", headers=admin)
        assert extra.status_code == 503 and extra.headers["Retry-After"]
        # the views catch up: every waiter is answered
        from projections.feed import ViewsFollower
        ViewsFollower(services.log, all_views()).catch_up()
        started = time.monotonic()
        answers = [w.result(timeout=10) for w in waiters]
        assert time.monotonic() - started < 5.0
    assert [a.status_code for a in answers] == [200] * 80


class Proxy:
    """A TCP forwarder to PostgreSQL that the test can cut: the database
    goes away as it does when its host does, connections and all."""

    def __init__(self, port: int = 5432) -> None:
        import socket
        self.target = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list = []
        self.cut = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        while not self.cut:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        import socket
        self.cut = True
        for s in [self.listener, *self.sockets]:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


def test_with_the_store_down_callers_get_503_and_health_answers(postgres_schema, clock):
    proxy = Proxy()
    url = postgres_schema.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    assert url != postgres_schema
    services = bootstrap(Settings(database_url=url, connect_timeout=1), clock=clock)
    create_view_tables(services.log, all_views())
    admin = {"Authorization": "Bearer " + services.tokens.create(role="admin", name="a")}
    try:
        with TestClient(create_app(services)) as client:
            assert client.post("/v1/compounds", json=story.compound(),
                               headers=admin).status_code == 201
            assert client.get("/health").json()["store"] == "reachable"
            proxy.close()
            started = time.monotonic()
            health = client.get("/health")
            assert time.monotonic() - started < 1.5
            assert health.status_code == 200 and health.json()["store"] == "unreachable"
            ready = client.get("/v1/ready")
            assert ready.status_code == 503 and ready.json()["store"] == "unreachable"
            write = client.post("/v1/compounds/HD-001/whistles", json=story.whistle(),
                                headers=admin)
            read = client.get("/v1/rankings/2026", headers=admin)
            started = time.monotonic()
            again = client.get("/v1/compounds/HD-001", headers=admin)
            assert time.monotonic() - started < 0.5  # the gate is closed: no wait
            for answer in (write, read, again):
                assert answer.status_code == 503, answer.text
                assert answer.headers["Retry-After"]
                assert answer.headers["content-type"] == "application/problem+json"
                assert answer.json()["type"] == "/problems/unavailable"
            # the store answers again (a new way in): so does the API, within seconds
            proxy = Proxy()
            services.app.factory.datastore.pool.kwargs["port"] = proxy.port
            deadline = time.monotonic() + 10
            while (answer := client.get("/v1/compounds/HD-001", headers=admin)).status_code \
                    == 503 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert answer.status_code == 200, answer.text
    finally:
        proxy.close()
        services.close()


def test_health_shows_details_only_to_auditors_and_readiness_what_is_behind(client, auth):
    assert client.post("/v1/compounds", json=story.compound(),
                       headers=auth["official"]).status_code == 201
    anonymous = client.get("/health").json()
    assert anonymous == {"status": "ok", "store": "reachable"}
    assert client.get("/health", headers=auth["viewer"]).json() == anonymous
    detailed = client.get("/health", headers=auth["auditor"]).json()
    assert detailed["position"] >= 1 and "audit" in detailed and "relay" in detailed
    ready = client.get("/v1/ready")
    assert ready.status_code == 200
    body = ready.json()
    assert body["relay"] == "not configured" and body["store"] == "reachable"
    assert body["views"]["positions_behind"] >= 0
    assert "position" not in body and "audit" not in body


def test_the_api_connections_carry_the_timeouts(postgres_schema):
    settings = Settings(database_url=postgres_schema, statement_timeout=7, lock_timeout=3,
                        idle_in_transaction_timeout=4)
    api, other = bootstrap(settings, api=True), bootstrap(settings)
    try:
        assert api.db.fetchall("SHOW statement_timeout") == [("7s",)]
        assert other.db.fetchall("SHOW statement_timeout") == [("0",)]  # rebuilds may run long
        for svc in (api, other):
            assert svc.db.fetchall("SHOW idle_in_transaction_session_timeout") == [("4s",)]
            assert svc.app.factory.datastore.lock_timeout == 3  # SET LOCAL before the LOCK
    finally:
        api.close()
        other.close()
