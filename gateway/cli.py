"""The `beacon` command line."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="beacon", description="Beacon margin gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("selfcheck", help="run the engine self-check and print what it decided")
    args = parser.parse_args(argv)
    if args.command == "selfcheck":
        from gateway.selfcheck import run

        return run()
    return 2


if __name__ == "__main__":
    sys.exit(main())
