"""`redwhistle consume`: the reference department consumer, run as is."""
from __future__ import annotations

import argparse
import logging
import re
import sys

from cli.relay import configure_logging, stop_on_signals
from adapters.settings import ConfigError, Settings


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("consume", help="receive a department's summonses from Kafka")
    p.add_argument("--department", required=True, help="e.g. fire, urban_management")
    p.add_argument("--group", help="consumer group (default: <prefix>-<department>)")
    sink = p.add_mutually_exclusive_group(required=True)
    sink.add_argument("--jsonl", metavar="FILE", help="append each summons to FILE as a JSON line")
    sink.add_argument("--forward-url", metavar="URL", help="POST each summons to URL as JSON")
    p.add_argument("--seen-db", metavar="FILE",
                   help="SQLite file of the event ids already handled "
                        "(default consumer-GROUP.sqlite beside the embedded store: "
                        "$REDWHISTLE_HOME or ~/.local/share/redwhistle)")
    p.add_argument("--bootstrap-servers", help="default: $KAFKA_BOOTSTRAP_SERVERS")
    p.add_argument("--verbose", action="store_true", help="also show kafka-python's own log")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from adapters.kafka import KafkaConfig
    from consumers.department import DepartmentConsumer
    from consumers.sinks import ForwardSink, JsonlSink

    if not re.fullmatch(r"[a-z0-9_]+", args.department):
        print("redwhistle: --department is a department code such as fire", file=sys.stderr)
        return 2
    configure_logging(args.verbose, kafka_level=logging.ERROR)
    settings = Settings.from_env()
    try:
        config = KafkaConfig.from_settings(settings, bootstrap_servers=args.bootstrap_servers)
    except ConfigError as exc:
        print(f"redwhistle: {exc}; or pass --bootstrap-servers", file=sys.stderr)
        return 2
    if args.department not in settings.departments:
        logging.getLogger("redwhistle.consumer").warning(
            "department %s is not in DEPARTMENTS; subscribing anyway", args.department)
    sink = JsonlSink(args.jsonl) if args.jsonl else ForwardSink(args.forward_url)
    consumer = DepartmentConsumer(config, args.department, sink, group_id=args.group,
                                  seen_path=args.seen_db)
    logging.getLogger("redwhistle.consumer").info(
        "consuming %s as group %s into %s", consumer.topic, consumer.group_id,
        args.jsonl or args.forward_url)
    consumer.run(stop_on_signals())
    return 0
