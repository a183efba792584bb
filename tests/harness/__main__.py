"""`python -m tests.harness run`: the local stack behind `make run`.

Starts revad with the demo users, then JupyterLab for einstein with the CS3 contents manager
configured by the seed's names, in a folder under build/run; keeps both running until Ctrl-C
and prints how to reach them.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from pathlib import Path

from .jupyter import JupyterError, JupyterServer, seed_settings
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
    secret = workdir / "einstein.secret"
    secret.write_text(DEMO_USERS["einstein"])
    secret.chmod(0o600)
    lab = JupyterServer(
        workdir / "jupyter",
        seed_settings(reva.gateway, "", secret),
        env={"JUPYTERHUB_USER": "einstein"},
    )
    try:
        lab.start()
    except JupyterError as err:
        reva.stop()
        print(f"error: {err}", file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    users = ", ".join(f"{name}/{password}" for name, password in DEMO_USERS.items())
    print(
        "\n".join(
            [
                f"JupyterLab for einstein, files in einstein's CS3 home: {lab.url}/lab?token={lab.token}",
                "reva is running:",
                f"  gateway (gRPC, CS3 APIs): {reva.gateway}",
                f"  data gateway (HTTP):      {reva.http_url}/datagateway",
                f"  demo users (basic auth):  {users}",
                f"  storage on disk:          {reva.storage_root}",
                f"  revad log:                {reva.log_path}",
                f"  Jupyter server log:       {lab.log_path}",
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
            if lab.process is not None and lab.process.poll() is not None:
                print(f"Jupyter server stopped unexpectedly\n{lab.log_tail()}", file=sys.stderr)
                return 1
    finally:
        lab.stop()
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
