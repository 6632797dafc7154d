"""`redwhistle relay`: publishes the event log to Kafka, from where it left off."""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from adapters.settings import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("relay", help="publish the event log to Kafka (summons and events topics)")
    p.add_argument("--batch-size", type=int, default=500, help="events per publish (500)")
    p.add_argument("--poll-interval", type=float, default=0.05,
                   help="seconds between looks at the log when idle (0.05)")
    p.add_argument("--lag-log-every", type=float, default=30.0,
                   help="seconds between lag log lines (30)")
    p.add_argument("--once", action="store_true", help="publish what is stored, then exit")
    p.add_argument("--verbose", action="store_true", help="also show kafka-python's own log")
    p.set_defaults(run=run)


def configure_logging(verbose: bool, kafka_level: int = logging.CRITICAL) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # kafka-python logs every refused connection as an error; our own lines
    # already say, once per retry, that the broker is down.
    logging.getLogger("kafka").setLevel(logging.DEBUG if verbose else kafka_level)


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def run(args: argparse.Namespace) -> int:
    from adapters.kafka import KafkaConfig
    from consumers.relay import Relay
    from service_layer.bootstrap import bootstrap

    configure_logging(args.verbose)
    services = bootstrap()
    try:
        try:
            config = KafkaConfig.from_settings(services.settings)
        except ConfigError as exc:
            print(f"redwhistle: {exc}", file=sys.stderr)
            return 2
        relay = Relay(services.log, services.settings, config, batch_size=args.batch_size,
                      poll_interval=args.poll_interval, lag_log_every=args.lag_log_every)
        if args.once:
            try:
                relay.catch_up(timeout=float("inf"))
            finally:
                relay.close()
            return 0
        relay.run(stop_on_signals())
        return 0
    finally:
        services.close()
