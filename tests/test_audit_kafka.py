"""Seals published to Kafka (a real broker) catch an attacker who rewrote the
events, the chain table and the seals table alike."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

from audit.kafka_seals import read_seals_topic, seals_topic
from audit.sealer import Sealer
from audit import verify
from service_layer.bootstrap import bootstrap
from adapters.settings import Settings
from tests.test_audit_cli import _edit, _log

ROOT = Path(__file__).resolve().parent.parent


def test_kafka_seals_catch_a_rewritten_chain(database_url, kafka_bootstrap, clock):
    prefix = "audit" + uuid.uuid4().hex[:8]
    settings = Settings(database_url=database_url, kafka_bootstrap_servers=kafka_bootstrap,
                        topic_prefix=prefix)
    services = bootstrap(settings, clock=clock)
    try:
        _log(services)  # 12 events
        sealer = Sealer(services.chain, services.settings, clock, every_events=4)
        made = sealer.tick()
        assert [s.position for s in made] == [4, 8, 12]
        chain = services.chain
        assert chain.stored_seals(unpublished=True) == []
        published = read_seals_topic(services.settings)
        assert seals_topic(services.settings) == f"{prefix}.seals"
        assert [(s.position, s.digest) for s in published] == \
            [(s.position, s.digest) for s in made]

        # The attacker edits event 6, then rebuilds the chain and the seals.
        _edit(services, 6, "nothing happened")
        services.db.execute(f"DELETE FROM {chain.chain}")
        services.db.execute(f"DELETE FROM {chain.seals}")
        sealer.stop()
        Sealer(services.chain, services.settings, clock, every_events=4).tick()
        assert verify.verify(services.chain).ok  # the database agrees with itself

        seals = verify._seal_lines(read_seals_topic(services.settings))
        result = verify.verify(services.chain, seals)
        assert (result.first.position, result.first.kind) == (8, "seal")
        assert "after position 4" in result.first.detail

        env = dict(os.environ, DATABASE_URL=database_url, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
                   TOPIC_PREFIX=prefix)
        done = subprocess.run([sys.executable, "-m", "cli.main", "audit", "verify",
                               "--against-seals", "kafka"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1, done.stdout + done.stderr
        assert re.search(r"BROKEN at position 8: seal", done.stdout), done.stdout
        done = subprocess.run([sys.executable, "-m", "cli.main", "audit", "verify",
                               "--against-seals", "kafka:no.such.topic"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120)
        errors = [line for line in done.stderr.splitlines() if not line.startswith("store: ")]
        assert done.returncode == 2 and len(errors) == 1, done.stderr
    finally:
        services.close()


def test_sealing_goes_on_while_the_broker_is_down(tmp_path, clock):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/x.sqlite",
                        kafka_bootstrap_servers="127.0.0.1:1", topic_prefix="down")
    services = bootstrap(settings, clock=clock)
    try:
        _log(services, compounds=1)
        sealer = Sealer(services.chain, services.settings, clock, every_events=2)
        assert [s.position for s in sealer.tick()] == [2, 4]
        # kept, and marked for publication once the broker answers
        assert [s.position for s in services.chain.stored_seals(unpublished=True)] == [2, 4]
    finally:
        services.close()
