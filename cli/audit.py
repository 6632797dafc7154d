"""`redwhistle audit`: replay the views, verify the hash chain, export the log.

    redwhistle audit replay [--until TIME|POS] [--view NAME|all]
    redwhistle audit replay --against-csv FILE --query NAME [--param K=V ...] [--until TIME|POS]
    redwhistle audit verify [--against-seals FILE|kafka|kafka:TOPIC]
    redwhistle audit export --out FILE.jsonl [--after POS]
    redwhistle audit seal                      (chain the log and seal its head now)
    redwhistle audit seals --out FILE.jsonl [--from-kafka [TOPIC]]

Exit codes: 0 all agree, 1 a difference or a break was found (each printed),
2 bad input (one line on stderr). docs/audit.md explains each check.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli.progress import Progress
from adapters.settings import ConfigError


def add_parser(sub: argparse._SubParsersAction) -> None:
    audit = sub.add_parser("audit", help="replay, verify and export the log (auditors)")
    actions = audit.add_subparsers(dest="action", required=True, parser_class=type(audit))

    replay = actions.add_parser("replay", help="rebuild views from the log and compare them")
    replay.add_argument("--until", help="log position or ISO time (default: the live views' "
                                        "position, or the log's end with --against-csv)")
    replay.add_argument("--view", default="all", help="view name, comma-separated names, or all")
    replay.add_argument("--against-csv", type=Path, metavar="FILE",
                        help="compare a published CSV instead of the live tables")
    replay.add_argument("--query", help="with --against-csv: the published figure "
                                        "(dashboard, agenda, community-agenda, rankings)")
    replay.add_argument("--param", action="append", default=[], metavar="K=V",
                        help="with --against-csv: a parameter of the query (repeatable)")
    replay.add_argument("--now", help="with --against-csv: the clock reading of the figure "
                                      "(default: the --until time)")
    replay.set_defaults(run=run_replay)

    verify = actions.add_parser("verify", help="recompute the hash chain and find tampering")
    verify.add_argument("--against-seals", metavar="FILE|kafka|kafka:TOPIC",
                        help="seals kept outside the database: a seals or export JSONL file, "
                             "or the Kafka topic <prefix>.seals")
    verify.add_argument("--show", type=int, default=50, help="findings to print (default 50)")
    verify.set_defaults(run=run_verify)

    export = actions.add_parser("export", help="write the log as canonical JSON lines")
    export.add_argument("--out", type=Path, required=True, metavar="FILE.jsonl")
    export.add_argument("--after", type=int, default=0, metavar="POS")
    export.set_defaults(run=run_export)

    seal = actions.add_parser("seal", help="chain the log to its end and seal the head now")
    seal.set_defaults(run=run_seal)

    seals = actions.add_parser("seals", help="write the seals as JSON lines")
    seals.add_argument("--out", type=Path, required=True, metavar="FILE.jsonl")
    seals.add_argument("--from-kafka", nargs="?", const="", metavar="TOPIC",
                       help="read them from the Kafka topic instead of the database")
    seals.set_defaults(run=run_seals)


def _fail(message: str) -> int:
    print(f"redwhistle: {message}", file=sys.stderr)
    return 2


def _params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            from audit.cuts import BadInput
            raise BadInput(f"--param takes KEY=VALUE, not {pair!r}")
        out[key] = value
    return out


def _with_services(body):  # type: ignore[no-untyped-def]
    """Runs a command with the store open; bad input exits 2 with one line."""
    def run(args: argparse.Namespace) -> int:
        from domain.exceptions import UnknownFact
        from audit.cuts import BadInput
        from service_layer.bootstrap import bootstrap
        try:
            services = bootstrap()
        except ConfigError as exc:
            return _fail(str(exc))
        try:
            return body(services, args)
        except (BadInput, ConfigError, UnknownFact) as exc:
            return _fail(str(exc))
        finally:
            services.close()
    return run


def _progress(services) -> Progress:  # type: ignore[no-untyped-def]
    """Over log positions, up to the log's head."""
    return Progress(total=services.app.recorder.max_notification_id(), unit="positions")


@_with_services
def run_replay(services, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from audit import cuts, replay
    until = cuts.parse_cut(args.until, "--until") if args.until else None
    names = None if args.view == "all" else [n for n in args.view.split(",") if n]
    if args.against_csv is None:
        if args.query or args.param or args.now:
            raise cuts.BadInput("--query, --param and --now go with --against-csv")
        if until is not None and not isinstance(until, int):
            until = cuts.cut_at(services.chain, until).position
        with _progress(services) as bar:
            result = replay.replay(services.log, names, until, bar)
        if not result.views:
            raise cuts.BadInput("no views are registered")
        for d in result.differences:
            print(d)
        for name, position in result.views.items():
            n = sum(1 for d in result.differences if d.view == name)
            print(f"{name}: replayed to position {position}: "
                  + ("identical to the live tables" if n == 0 else f"{n} differences"))
        return 1 if result.differences else 0
    if not args.query:
        raise cuts.BadInput("--against-csv needs --query NAME")
    if not args.against_csv.is_file():
        raise cuts.BadInput(f"no such file: {args.against_csv}")
    query = replay.query_named(args.query)
    with _progress(services) as bar:
        figure = replay.view_as_of(services.chain, services.settings, args.query, args.until,
                                   _params(args.param), now=args.now, progress=bar)
    differences = replay.compare_csv(args.query, query.rows(figure["figure"]), args.against_csv,
                                    list(query.columns) if query.columns else None)
    for d in differences:
        print(d)
    print(f"{args.query} at position {figure['position']} (now {figure['now']}): "
          + ("identical to " if not differences else f"{len(differences)} differences from ")
          + str(args.against_csv))
    return 1 if differences else 0


def _seal_source(services, spec: str):  # type: ignore[no-untyped-def]
    from audit.kafka_seals import read_seals_topic
    from audit import cuts, verify
    if spec == "kafka" or spec.startswith("kafka:"):
        if not services.settings.kafka_bootstrap_servers:
            raise cuts.BadInput("--against-seals kafka needs KAFKA_BOOTSTRAP_SERVERS")
        topic = spec.partition(":")[2] or None
        try:
            seals = read_seals_topic(services.settings, topic)
        except LookupError as exc:
            raise cuts.BadInput(str(exc)) from None
        return verify._seal_lines(seals)  # noqa: SLF001
    path = Path(spec)
    if not path.is_file():
        raise cuts.BadInput(f"no such seals file: {spec}")
    # Read up front so that a malformed file is bad input before any work.
    with open(path, encoding="utf-8") as f:
        return iter(list(verify.seals_from_lines(f, str(path))))


@_with_services
def run_verify(services, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from audit import verify
    seals = _seal_source(services, args.against_seals) if args.against_seals else None
    with _progress(services) as bar:
        result = verify.verify(services.chain, seals, progress=bar)
    summary = (f"{result.events} events up to position {result.head}; chained up to "
               f"{result.chained}; {result.unchained} not chained yet; "
               f"{result.seals_checked} seals checked; digest {result.digest}")
    if result.ok:
        print(f"ok: {summary}")
        return 0
    first = result.first
    print(f"BROKEN at position {first.position}: {first.kind}: {first.detail}")
    for finding in result.findings[:args.show]:
        print(f"  {finding}")
    hidden = len(result.findings) - min(args.show, len(result.findings)) + result.more
    if hidden:
        print(f"  ... and {hidden} more")
    print(summary)
    return 1


@_with_services
def run_export(services, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from audit import cuts, export
    if args.after < 0:
        raise cuts.BadInput("--after must be a position >= 0")
    if not args.out.parent.is_dir():
        raise cuts.BadInput(f"no such directory: {args.out.parent}")
    with _progress(services) as bar:
        count, digest = export.export(services.chain, args.out, args.after, bar)
    print(f"exported {count} events after position {args.after} to {args.out}; "
          f"last digest {digest}")
    chain = services.chain
    head, stored = chain.head()
    if head > args.after and count:
        exported = _digest_at(args.out, head)
        if exported is not None and exported != stored:
            print(f"warning: the log no longer hashes to the stored chain at position {head}; "
                  "run `redwhistle audit verify`", file=sys.stderr)
            return 1
    return 0


def _digest_at(path: Path, position: int) -> str | None:
    import json
    digest = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            body = json.loads(line)
            if body["position"] > position:
                break
            digest = body["digest"]
    return digest


@_with_services
def run_seal(services, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from audit.sealer import Sealer
    seal = Sealer(services.chain, services.settings, services.governance.clock).seal_now()
    if seal is None:
        print("nothing new to seal")
    else:
        print(f"sealed position {seal.position} at {seal.sealed_at}: {seal.digest}")
    return 0


@_with_services
def run_seals(services, args: argparse.Namespace) -> int:  # type: ignore[no-untyped-def]
    from audit.kafka_seals import read_seals_topic
    from audit import cuts, export
    if args.from_kafka is not None:
        if not services.settings.kafka_bootstrap_servers:
            raise cuts.BadInput("--from-kafka needs KAFKA_BOOTSTRAP_SERVERS")
        try:
            seals = read_seals_topic(services.settings, args.from_kafka or None)
        except LookupError as exc:
            raise cuts.BadInput(str(exc)) from None
    else:
        seals = services.chain.stored_seals()
    count = export.write_seals(seals, args.out)
    print(f"wrote {count} seals to {args.out}")
    return 0
