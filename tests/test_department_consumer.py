"""The department consumer on a real broker: it hands every summons to the
sink once, commits only what the sink took, retries a failing sink, shares
partitions within a group, and runs as `redwhistle consume`."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from consumers.department import DepartmentConsumer
from consumers.relay import Relay
from adapters.settings import Settings
from tests.kafka_broker import read_topic
from tests.kafka_story import FAST_GROUP, fast_config, kafka_settings, register, wait_for, whistle

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(database_url: str, kafka_bootstrap: str) -> Settings:
    return kafka_settings(database_url, kafka_bootstrap)


def _publish(services, department: str, n: int, partitions: int = 3) -> list[str]:
    """Blows n whistles at one department and relays them; returns issue ids in order."""
    register(services.governance, "HD-1")
    issues = [whistle(services.governance, "HD-1", [department]) for _ in range(n)]
    relay = Relay(services.log, services.settings, fast_config(services.settings, partitions=partitions))
    relay.catch_up()
    relay.close()
    return issues


def test_a_failing_sink_is_retried_and_offsets_follow_the_sink(services, tmp_path):
    issues = _publish(services, "fire", 6, partitions=1)  # one partition: one global order
    config = fast_config(services.settings, partitions=1)
    attempts: dict[str, int] = {}
    taken: list[str] = []

    def flaky(envelope: dict) -> None:
        attempts[envelope["issue_id"]] = attempts.get(envelope["issue_id"], 0) + 1
        if envelope["issue_id"] == issues[2] and attempts[issues[2]] <= 2:
            raise OSError("department system is down")
        taken.append(envelope["issue_id"])

    first = DepartmentConsumer(config, "fire", flaky, seen_path=str(tmp_path / "a.sqlite"),
                               first_backoff=0.2)
    try:
        wait_for(lambda: first.poll_once() is not None and len(taken) == 6, 30, "six summonses")
    finally:
        first.close()
    assert taken == issues  # retried in place: nothing skipped, order kept
    assert attempts[issues[2]] == 3 and first.failures == 2

    # A sink that never recovers: the consumer stops before summons 3 and
    # commits only what was taken, so a successor starts exactly there.
    more = [whistle(services.governance, "HD-1", ["fire"]) for _ in range(3)]
    relay = Relay(services.log, services.settings, config)
    relay.catch_up()
    relay.close()
    stuck_at = more[1]
    handed: list[str] = []

    def broken(envelope: dict) -> None:
        if envelope["issue_id"] == stuck_at:
            raise OSError("still down")
        handed.append(envelope["issue_id"])

    second = DepartmentConsumer(config, "fire", broken, seen_path=str(tmp_path / "a.sqlite"),
                                first_backoff=0.1, max_backoff=0.2)
    try:
        wait_for(lambda: second.poll_once() is not None and second.failures >= 3, 30,
                 "repeated sink failures")
    finally:
        second.close()
    assert handed == more[:1]  # taken before the failure; never past it

    successor: list[str] = []
    third = DepartmentConsumer(config, "fire", lambda e: successor.append(e["issue_id"]),
                               seen_path=str(tmp_path / "fresh.sqlite"))  # remembers nothing
    try:
        wait_for(lambda: third.poll_once() is not None and len(successor) >= 2, 30,
                 "the successor to resume")
        third.poll_once()
    finally:
        third.close()
    assert successor == more[1:]  # committed offsets, not the seen-store, did this


def test_two_consumers_in_one_group_share_the_partitions(services, tmp_path):
    config = fast_config(services.settings)
    seen = str(tmp_path / "seen.sqlite")  # one host, one seen-store for the group
    handed: dict[str, list[str]] = {"a": [], "b": []}
    consumers = {name: DepartmentConsumer(config, "police",
                                          lambda e, name=name: handed[name].append(e["issue_id"]),
                                          group_id=f"{config.topic_prefix}-desk", seen_path=seen)
                 for name in handed}
    stop = threading.Event()
    threads = [threading.Thread(target=c.run, args=(stop,)) for c in consumers.values()]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: all(c._consumer and c._consumer.assignment() for c in consumers.values()),
                 30, "both members to get partitions")
        parts = {name: {tp.partition for tp in c._consumer.assignment()}
                 for name, c in consumers.items()}
        issues = _publish(services, "police", 40)
        wait_for(lambda: len(handed["a"]) + len(handed["b"]) >= 40, 30, "all summonses")
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert parts["a"] and parts["b"] and not parts["a"] & parts["b"]
    assert parts["a"] | parts["b"] == {0, 1, 2}
    assert handed["a"] and handed["b"]
    assert sorted(handed["a"] + handed["b"]) == sorted(issues)


class _Receiver(BaseHTTPRequestHandler):
    """A department's system: refuses the first few posts, then accepts."""
    failures_left = 3
    accepted: list[tuple[str, dict]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        cls = type(self)
        if cls.failures_left > 0:
            cls.failures_left -= 1
            self.send_response(503)
        else:
            cls.accepted.append((self.headers["Idempotency-Key"], body))
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def _consume(settings: Settings, tmp_path: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
               TOPIC_PREFIX=settings.topic_prefix, PYTHONPATH=str(REPO),
               KAFKA_SESSION_TIMEOUT_MS=str(FAST_GROUP["session_timeout_ms"]),
               KAFKA_MAX_POLL_INTERVAL_MS=str(FAST_GROUP["max_poll_interval_ms"]))
    return subprocess.Popen([sys.executable, "-m", "cli.main", "consume", *args,
                             "--seen-db", str(tmp_path / "seen.sqlite")],
                            cwd=REPO, env=env, stderr=subprocess.PIPE)


def _terminate(process: subprocess.Popen) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return process.returncode, err.decode()


def test_consume_command_forwards_to_a_url_retrying_until_it_answers(services, tmp_path):
    _Receiver.failures_left, _Receiver.accepted = 3, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    process = _consume(services.settings, tmp_path, "--department", "water", "--forward-url",
                       f"http://127.0.0.1:{server.server_port}/summons")
    try:
        issues = _publish(services, "water", 4)
        wait_for(lambda: len(_Receiver.accepted) >= 4, 40, "four accepted posts", every=0.1)
    finally:
        code, err = _terminate(process)
        server.shutdown()
    assert code == 0, err[-2000:]
    assert sorted(body["issue_id"] for _, body in _Receiver.accepted) == sorted(issues)
    assert all(key == body["event_id"] for key, body in _Receiver.accepted)
    assert err.count("sink failed") == 3 and "503" in err  # said so, plainly


def test_consume_command_writes_jsonl_once_per_summons_across_restarts(services, tmp_path):
    out = tmp_path / "fire.jsonl"
    first = _publish(services, "fire", 3)
    process = _consume(services.settings, tmp_path, "--department", "fire", "--jsonl", str(out))
    try:
        wait_for(lambda: out.exists() and len(out.read_text().splitlines()) >= 3, 40,
                 "three lines", every=0.1)
    finally:
        code, err = _terminate(process)
    assert code == 0, err[-2000:]

    later = [whistle(services.governance, "HD-1", ["fire"]) for _ in range(2)]
    relay = Relay(services.log, services.settings, fast_config(services.settings))
    relay.position = 0  # republish everything: the consumer must drop what it has seen
    relay.catch_up()
    relay.close()
    process = _consume(services.settings, tmp_path, "--department", "fire", "--jsonl", str(out))
    try:
        wait_for(lambda: _committed_to_end(services.settings, "fire"), 40,
                 "the consumer to commit the whole topic", every=0.2)
    finally:
        code, err = _terminate(process)
    assert code == 0, err[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(e["issue_id"] for e in lines) == sorted(first + later)  # 8 delivered, 5 written
    assert {(e["department"], e["kind"], e["type"]) for e in lines} == {
        ("fire", "summons", "WhistleBlown")}


def _committed_to_end(settings: Settings, department: str) -> bool:
    from kafka import KafkaConsumer, TopicPartition

    topic = f"{settings.topic_prefix}.summons.{department}"
    ends: dict[int, int] = {}
    for r in read_topic(settings.kafka_bootstrap_servers, topic):
        ends[r.partition] = r.offset + 1
    # A group member that never subscribes only reads the group's offsets.
    reader = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers,
                           group_id=f"{settings.topic_prefix}-{department}",
                           enable_auto_commit=False)
    try:
        return all((reader.committed(TopicPartition(topic, p)) or 0) == end
                   for p, end in ends.items())
    finally:
        reader.close(autocommit=False)
