"""The `beacon` command line."""

from __future__ import annotations

import argparse
import sys


def _journal_error(exc: Exception) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beacon", description="Beacon margin gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("selfcheck", help="run the engine self-check and print what it decided")

    p = sub.add_parser("serve", help="run the gateway")
    p.add_argument("--config", help="beacon.toml (every setting has a default)")
    p.add_argument("--port", type=int, help="override server.port")
    p.add_argument("--order-port", type=int, help="override server.order_port (the picows websocket; -1: off)")
    p.add_argument("--busy-poll-us", type=int, metavar="US",
                   help="override server.busy_poll_us: poll this long after each request instead of sleeping "
                        "(lower latency for a core; 0: off)")
    p.add_argument("--journal", help="override journal.dir")
    p.add_argument("--broker", choices=["simulated", "fix"], help="override broker.kind")
    p.add_argument("--fix", metavar="HOST:PORT", help="with --broker fix: the broker's FIX acceptor")
    p.add_argument("--fix-comp-ids", metavar="OURS:THEIRS", help="SenderCompID:TargetCompID (default BEACON:BROKER)")
    p.add_argument("--log-level", default="INFO")

    p = sub.add_parser("config", help="print the default configuration as TOML")

    p = sub.add_parser("replay", help="rebuild state from a journal and prove every recorded decision")
    p.add_argument("journal", help="journal directory (or its journal.log)")
    p.add_argument("--backend", choices=["cython", "python"], default=None)

    p = sub.add_parser("audit", help="the inputs and decisions behind an order or an account")
    p.add_argument("journal")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--order", type=int, help="engine order id")
    who.add_argument("--client-order-id", help="the client's order id (answers 'why was this rejected')")
    who.add_argument("--account", type=int, help="account id: its margin history and activity")
    p.add_argument("--on-account", type=int, help="with --client-order-id: only this account's order")
    p.add_argument("--last", type=int, default=0, help="with --account: only the last N lines")

    p = sub.add_parser("stress", help="a market scenario against a population of accounts, and its report")
    p.add_argument("scenario", help="scenario name (python -m simulators --list) or TOML file")
    p.add_argument("--accounts", type=int, default=3_000)
    p.add_argument("--seed", type=int, default=7, help="seeds the population")
    p.add_argument("--step", type=int, default=30, help="the scenario's step in seconds (its file says 3)")
    p.add_argument("--raise-bp", type=int, default=1_000,
                   help="the second run raises every margin line by this much (0: one run only)")
    p.add_argument("--raise-at", default="", help='when, "DAY HH:MM" (default: 10 minutes after the first shock)')
    p.add_argument("--out", default="", help="report directory (default: var/stress/SCENARIO)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    journal = sub.add_parser("journal", help="journal maintenance").add_subparsers(dest="action", required=True)
    p = journal.add_parser("verify", help="check framing, checksums and the hash chain")
    p.add_argument("journal")
    p = journal.add_parser("snapshot", help="write a snapshot of the recovered state at the journal's head")
    p.add_argument("journal")
    p = journal.add_parser("synth", help="write a journal of a synthetic trading session (for trying the tools)")
    p.add_argument("journal")
    p.add_argument("--commands", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--snapshot-every", type=int, default=0)

    args = parser.parse_args(argv)
    if args.command == "selfcheck":
        from gateway.selfcheck import run

        return run()

    if args.command == "serve":
        return _serve(args)
    if args.command == "stress":
        return _stress(args)
    if args.command == "config":
        from gateway.config import Config, dump_config

        sys.stdout.write(dump_config(Config()).decode())
        return 0

    from gateway.journal import JournalError
    from gateway.journal import tools

    try:
        if args.command == "replay":
            print(tools.replay_report(args.journal, args.backend))
        elif args.command == "audit":
            if args.account is not None:
                print(tools.audit_account(args.journal, args.account, limit=args.last))
            else:
                print(tools.audit_order(args.journal, args.order, args.client_order_id, args.on_account))
        elif args.action == "verify":
            print(tools.verify_report(args.journal))
        elif args.action == "snapshot":
            from gateway.journal.journaled import Journaled

            journaled = Journaled.open(args.journal)
            path = journaled.snapshot()
            journaled.close()
            print(f"snapshot at seq {journaled.journal.seq}: {path}")
        elif args.action == "synth":
            print(tools.write_synthetic(args.journal, args.commands, args.seed, snapshot_every=args.snapshot_every))
    except (JournalError, FileExistsError, FileNotFoundError) as exc:
        return _journal_error(exc)
    return 0


def _stress(args) -> int:
    from pathlib import Path

    from gateway.stress.report import key_table
    from gateway.stress.runner import stress_report

    if args.accounts <= 0 or args.step <= 0:
        print("error: --accounts and --step must be positive", file=sys.stderr)
        return 2
    out = Path(args.out or f"var/stress/{Path(args.scenario).stem}")
    try:
        path, results = stress_report(args.scenario, out, accounts=args.accounts, seed=args.seed,
                                      step_seconds=args.step, raise_bp=args.raise_bp, raise_at=args.raise_at,
                                      progress=not args.quiet)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(key_table(results))
    print(f"report: {path}")
    return 0 if all(r["summary"]["money_conserved"] for r in results) else 1


def _serve(args) -> int:
    import logging

    import msgspec

    from gateway.config import Config, load_config
    from gateway.server import run

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config) if args.config else Config()
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.port is not None:
        config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server, port=args.port))
    if args.order_port is not None:
        config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server,
                                                                                order_port=args.order_port))
    if args.busy_poll_us is not None:
        config = msgspec.structs.replace(config, server=msgspec.structs.replace(config.server,
                                                                                busy_poll_us=args.busy_poll_us))
    if args.journal:
        config = msgspec.structs.replace(config, journal=msgspec.structs.replace(config.journal, dir=args.journal))
    broker = config.broker
    fix = broker.fix
    if args.fix:
        host, _, port = args.fix.rpartition(":")
        if not host or not port.isdigit():
            print(f"error: --fix wants HOST:PORT, not {args.fix!r}", file=sys.stderr)
            return 2
        fix = msgspec.structs.replace(fix, host=host, port=int(port))
    if args.fix_comp_ids:
        ours, _, theirs = args.fix_comp_ids.partition(":")
        if not ours or not theirs:
            print(f"error: --fix-comp-ids wants OURS:THEIRS, not {args.fix_comp_ids!r}", file=sys.stderr)
            return 2
        fix = msgspec.structs.replace(fix, sender_comp_id=ours, target_comp_id=theirs)
    config = msgspec.structs.replace(config, broker=msgspec.structs.replace(broker, kind=args.broker or broker.kind,
                                                                            fix=fix))
    try:  # the command line's overrides are held to the same bounds as the file
        config.validate()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run(config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
