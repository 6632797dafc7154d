"""Figure 4, departments on Kafka: how soon a whistle reaches a department,
and how fast the relay publishes, each beside bare kafka-python on the same
broker in the same run.

- latency: whistles POSTed to the API (`redwhistle serve` in a subprocess, on
  PostgreSQL) at a steady `rate`/s for `seconds`, each naming `fire`; the
  relay (`redwhistle relay`) and a department consumer (DepartmentConsumer
  in a subprocess) running as deployed. Latency is from the moment the
  client read the 201 to the moment the consumer's sink got the summons.
  Baseline: the same envelopes sent by a bare KafkaProducer loop at the same
  rate (timed from send()) to the same kind of consumer.
- max publish rate: `events` whistles (two departments each, so three
  messages per event) stored first, then one relay catches up from position
  0: messages acknowledged per second, including reading and decoding the
  log and storing positions. Baseline: the same messages from a bare
  producer loop, one flush at the end.

The broker is KAFKA_BOOTSTRAP_SERVERS or, unset, a Tansu started here.

    python -m bench.relay_bench --seconds 10 --rate 200
    python -m bench.relay_bench --quick
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.ingest_bench import DEFAULT_PG, Server, percentile
from adapters.db import scratch_schema

REPO = Path(__file__).resolve().parents[1]
DEPARTMENT = "fire"
COMPOUNDS = 100
FAST_GROUP = dict(session_timeout_ms=6000, max_poll_interval_ms=5000)


# -- the broker --------------------------------------------------------------------
@contextmanager
def broker() -> Iterator[str]:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from tests.kafka_broker import TansuBroker  # the test suite's launcher
    tansu = TansuBroker().start()
    try:
        yield tansu.bootstrap
    finally:
        tansu.stop()


def _env(database_url: str | None, bootstrap: str, prefix: str) -> dict[str, str]:
    env = dict(os.environ, KAFKA_BOOTSTRAP_SERVERS=bootstrap, TOPIC_PREFIX=prefix,
               PYTHONPATH=str(REPO))
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


# -- the department's side: a consumer that notes when each summons arrived ------------
def probe(bootstrap: str, prefix: str, out: str) -> None:
    """Runs until killed; writes 'ready' to OUT.ready once it holds partitions,
    then one line `event_id issue_id unix_time` per summons to OUT."""
    from adapters.kafka import KafkaConfig
    from consumers.department import DepartmentConsumer
    from adapters.settings import Settings

    config = KafkaConfig.from_settings(Settings(kafka_bootstrap_servers=bootstrap,
                                                topic_prefix=prefix), **FAST_GROUP)
    sink = open(out, "a", buffering=1)

    def handler(envelope: dict) -> None:
        sink.write(f"{envelope['event_id']} {envelope['issue_id']} {time.time():.6f}\n")

    consumer = DepartmentConsumer(config, DEPARTMENT, handler, seen_path=out + ".seen",
                                  poll_timeout_ms=100)
    while not consumer.consumer.assignment():
        consumer.poll_once()
    Path(out + ".ready").write_text("ready")
    while True:
        consumer.poll_once()


class Probe:
    def __init__(self, bootstrap: str, prefix: str, workdir: Path) -> None:
        self.out = workdir / f"probe-{prefix}.txt"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.relay_bench", "--probe", str(self.out)],
            env=_env(None, bootstrap, prefix), cwd=REPO)
        deadline = time.monotonic() + 60
        while not Path(str(self.out) + ".ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the probe consumer did not join its group")
            time.sleep(0.1)

    def arrivals(self) -> dict[str, float]:
        if not self.out.exists():
            return {}
        got = {}
        for line in self.out.read_text().splitlines():
            parts = line.split()
            if len(parts) == 3:
                got[parts[1]] = float(parts[2])
        return got

    def wait_for(self, issue_ids: set[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.arrivals()
            if issue_ids <= set(got) or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


# -- a paced HTTP client recording when each 201 was read ------------------------------
async def _paced_posts(port: int, token: str, codes: list[str], rate: float, count: int,
                       connections: int) -> dict[str, float]:
    done: dict[str, float] = {}
    start = time.perf_counter() + 0.05
    slots = iter(range(count))

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for slot in slots:
                due = start + slot / rate
                if due > time.perf_counter():
                    await asyncio.sleep(due - time.perf_counter())
                issue_id = str(uuid.uuid4())
                body = json.dumps(dict(issue_id=issue_id, category="noise", urgency="normal",
                                       description="Bench: noise at night", grid="G1",
                                       departments=[DEPARTMENT], source="grid_patrol")).encode()
                code = codes[slot % len(codes)]
                writer.write(f"POST /v1/compounds/{code}/whistles HTTP/1.1\r\nHost: bench\r\n"
                             f"Authorization: Bearer {token}\r\nContent-Type: application/json"
                             f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line[15:]) for line in head.split(b"\r\n")
                               if line[:15].lower() == b"content-length:"), 0)
                if length:
                    await reader.readexactly(length)
                if head[9:12] == b"201":
                    done[issue_id] = time.time()
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return done


def latency(bootstrap: str, base_url: str, rate: float, seconds: float,
            workdir: Path) -> dict[str, Any]:
    prefix = "bench" + uuid.uuid4().hex[:8]
    count = int(rate * seconds)
    with scratch_schema(base_url, "relay") as url:
        from service_layer.bootstrap import bootstrap as make_services
        from adapters.settings import Settings
        services = make_services(Settings(database_url=url))
        # Spread over compounds as in a district: one compound taking 200
        # whistles a second would measure a compound with thousands of issues.
        codes = [f"B-{i}" for i in range(COMPOUNDS)]
        try:
            for code in codes:
                services.governance.register_compound(
                    code=code, name="Bench compound", district="D", street="S", community="C",
                    grids=["G1"], households=100, kind="old", management_mode="professional")
            token = services.tokens.create(role="grid_worker", name="bench-grid", street="S")
        finally:
            services.close()
        relay = subprocess.Popen([sys.executable, "-m", "cli.main", "relay"],
                                 env=_env(url, bootstrap, prefix), cwd=REPO,
                                 stderr=open(workdir / "relay.log", "ab"))
        probe_ = None
        try:
            with Server(url) as server:
                probe_ = Probe(bootstrap, prefix, workdir)
                warm = asyncio.run(_paced_posts(server.port, token, codes, 50, 20, 2))
                probe_.wait_for(set(warm), 60)
                t201 = asyncio.run(_paced_posts(server.port, token, codes, rate, count,
                                                connections=8))
                arrived = probe_.wait_for(set(t201), 60)
        finally:
            if probe_:
                probe_.stop()
            relay.terminate()
            relay.wait(20)
    lat = [(arrived[i] - t) * 1000 for i, t in t201.items() if i in arrived]
    envelopes = _published(bootstrap, prefix)
    span = max(t201.values()) - min(t201.values()) if len(t201) > 1 else float("nan")
    return dict(p50=percentile(lat, 50), p99=percentile(lat, 99), sent=count, ok=len(t201),
                received=len(lat), envelopes=envelopes, achieved=(len(t201) - 1) / span)


def _published(bootstrap: str, prefix: str) -> list[bytes]:
    from tests.kafka_broker import read_topic
    return [r.value for r in read_topic(bootstrap, f"{prefix}.summons.{DEPARTMENT}")]


def baseline_latency(bootstrap: str, envelopes: list[bytes], rate: float, seconds: float,
                     workdir: Path) -> dict[str, Any]:
    """The same envelopes (fresh ids) from a bare producer loop at the same rate."""
    from adapters.kafka import KafkaConfig, ensure_topics, make_producer
    from adapters.settings import Settings

    prefix = "base" + uuid.uuid4().hex[:8]
    config = KafkaConfig.from_settings(Settings(kafka_bootstrap_servers=bootstrap,
                                                topic_prefix=prefix))
    topic = config.summons_topic(DEPARTMENT)
    ensure_topics(config, [topic])
    probe_ = Probe(bootstrap, prefix, workdir)
    producer = make_producer(config)
    sent: dict[str, float] = {}
    try:
        start = time.perf_counter() + 0.05
        for slot in range(int(rate * seconds)):
            body = json.loads(envelopes[slot % len(envelopes)])
            body["event_id"] = body["issue_id"] = str(uuid.uuid4())
            value = json.dumps(body).encode()
            due = start + slot / rate
            if due > time.perf_counter():
                time.sleep(due - time.perf_counter())
            sent[body["issue_id"]] = time.time()
            producer.send(topic, key=body["issue_id"].encode(), value=value,
                          headers=[("schema-version", b"1")])
        producer.flush()
        arrived = probe_.wait_for(set(sent), 60)
    finally:
        producer.close()
        probe_.stop()
    lat = [(arrived[i] - t) * 1000 for i, t in sent.items() if i in arrived]
    return dict(p50=percentile(lat, 50), p99=percentile(lat, 99), received=len(lat),
                sent=len(sent))


# -- publish rate ------------------------------------------------------------------
def _store_whistles(services: Any, events: int) -> None:
    """`events` whistles (two departments each) saved in a few big saves."""
    from datetime import datetime, timezone

    from domain.compound import Compound
    at = datetime.now(timezone.utc)
    per_compound = 500
    for c in range((events + per_compound - 1) // per_compound):
        compound = Compound.register(code=f"R-{c}", name="Relay bench", district="D",
                                     street="S", community="C", grids=[], households=100,
                                     kind="old", management_mode="professional", at=at)
        for _ in range(min(per_compound, events - c * per_compound)):
            compound.blow_whistle(issue_id=str(uuid.uuid4()), category="noise",
                                  description="Bench: noise at night",
                                  departments=["fire", "police"], urgency="normal",
                                  source="grid_patrol", grid=None, building=None, unit=None,
                                  grid_worker="bench", policy=services.settings.deadlines, at=at)
        services.app.save(compound)


def publish_rate(bootstrap: str, base_url: str, events: int) -> dict[str, Any]:
    from adapters.kafka import KafkaConfig, ensure_topics, make_producer
    from consumers.relay import Relay
    from service_layer.bootstrap import bootstrap as make_services
    from adapters.settings import Settings

    prefix = "rate" + uuid.uuid4().hex[:8]
    with scratch_schema(base_url, "relay") as url:
        services = make_services(Settings(database_url=url, kafka_bootstrap_servers=bootstrap,
                                          topic_prefix=prefix))
        try:
            _store_whistles(services, events)
            relay = Relay(services.log, services.settings)
            relay.producer()  # connect and create topics outside the timing
            stored = relay.head()
            t0 = time.perf_counter()
            relay.catch_up(timeout=600)
            relay_s = time.perf_counter() - t0
            relay.close()
            # The very messages the relay sent, for the bare loop.
            relay.position = 0
            messages = []
            while (batch := relay.pending()) is not None:
                messages += batch[0]
                relay.position = batch[2]
        finally:
            services.close()
    config = KafkaConfig.from_settings(Settings(kafka_bootstrap_servers=bootstrap,
                                                topic_prefix="bare" + prefix))
    rename = {t: "bare" + t for t in {m.topic for m in messages}}
    ensure_topics(config, list(rename.values()))
    producer = make_producer(config)
    try:
        t0 = time.perf_counter()
        for m in messages:
            producer.send(rename[m.topic], key=m.key.encode(), value=m.value, headers=m.headers)
        producer.flush()
        bare_s = time.perf_counter() - t0
    finally:
        producer.close()
    return dict(events=stored, messages=len(messages), relay_per_s=len(messages) / relay_s,
                relay_events_per_s=stored / relay_s, bare_per_s=len(messages) / bare_s)


# -- the harness ---------------------------------------------------------------------
def run(seconds: float = 10.0, quick: bool = False, rate: float = 200.0,
        events: int | None = None, base_url: str = DEFAULT_PG) -> list[dict[str, Any]]:
    """Figure 4's rows for bench/run.py."""
    if quick:
        seconds = min(seconds, 3.0)
    events = events or (2000 if quick else 20_000)
    import tempfile
    with broker() as bootstrap, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        ours = latency(bootstrap, base_url, rate, seconds, workdir)
        bare = baseline_latency(bootstrap, ours["envelopes"], rate, seconds, workdir)
        pub = publish_rate(bootstrap, base_url, events)
    where = "Tansu (memory)" if not os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else "Kafka"
    note = (f"{rate:.0f} whistles/s offered for {seconds:.0f} s ({ours['achieved']:.0f}/s "
            f"done) over {COMPOUNDS} compounds, PostgreSQL, {where}; {ours['ok']}/"
            f"{ours['sent']} got 201, {ours['received']} reached the sink")
    return [
        dict(figure="4 relay: whistle 201 → department sink, p50", value=ours["p50"], unit="ms",
             baseline=bare["p50"], lower_is_better=True,
             baseline_label="bare producer loop → same consumer", note=note),
        dict(figure="4 relay: whistle 201 → department sink, p99", value=ours["p99"], unit="ms",
             baseline=bare["p99"], lower_is_better=True,
             baseline_label="bare producer loop → same consumer",
             note=f"baseline {bare['received']}/{bare['sent']} received"),
        dict(figure="4 relay: max publish rate", value=pub["relay_per_s"], unit="msg/s",
             baseline=pub["bare_per_s"], baseline_label="bare producer loop, same messages",
             note=f"{pub['events']} events = {pub['messages']} messages; "
                  f"{pub['relay_events_per_s']:.0f} events/s incl. reading the log"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.relay_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--probe", metavar="OUT", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--events", type=int, help="stored events for the publish rate")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.probe:
        probe(os.environ["KAFKA_BOOTSTRAP_SERVERS"], os.environ["TOPIC_PREFIX"], args.probe)
        return 0
    from bench.run import print_table
    print_table(run(args.seconds, args.quick, args.rate, args.events))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
