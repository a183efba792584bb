"""`python -m tests.harness run`: the local stack behind `make run`.

Starts revad with the demo users in a folder under build/run and keeps it running until
Ctrl-C, printing how to reach it.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

from .reva import DEMO_USERS, REPO, RevaError, start_revad


def run(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir)
    if workdir.exists() and not args.keep:
        shutil.rmtree(workdir)
    try:
        reva = start_revad(workdir)
    except RevaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    users = ", ".join(f"{name}/{password}" for name, password in DEMO_USERS.items())
    print(
        "\n".join(
            [
                "reva is running:",
                f"  gateway (gRPC, CS3 APIs): {reva.gateway}",
                f"  data gateway (HTTP):      {reva.http_url}/datagateway",
                f"  demo users (basic auth):  {users}",
                f"  storage on disk:          {reva.storage_root}",
                f"  revad log:                {reva.log_path}",
                "Press Ctrl-C to stop.",
            ]
        ),
        flush=True,
    )
    try:
        while not stop.wait(1.0):
            if not reva.running:
                print(f"revad stopped unexpectedly\n{reva.log_tail()}", file=sys.stderr)
                return 1
    finally:
        reva.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="start the local stack and wait for Ctrl-C")
    run_parser.add_argument("--workdir", default=str(REPO / "build" / "run"))
    run_parser.add_argument("--keep", action="store_true", help="keep files from the previous run")
    args = parser.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
