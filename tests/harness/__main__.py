"""`python -m tests.harness run`: the local stack behind `make run`.

`run` starts the real system minus Kubernetes: the test identity provider, reva trusting it,
and JupyterHub with configurable-http-proxy, which spawns for each user who logs in a Jupyter
server on the CS3 contents manager with a token refresher beside it. `lab` starts only reva
and JupyterLab for einstein (basic auth), for working on the contents manager alone.
Everything lives under build/run and stops with Ctrl-C.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from .hub import Hub, HubError
from .idp import Client, IdentityProvider, IdpError
from .jupyter import JupyterError, seed_server
from .reva import DEMO_USERS, REPO, OidcSettings, RevaError, start_revad

USERS = ", ".join(f"{name} / {password}" for name, password in DEMO_USERS.items())


def wait_for_ctrl_c(checks: list[tuple[str, Callable[[], bool], Callable[[], str]]]) -> int:
    """Block until Ctrl-C or SIGTERM; 1 if a component dies meanwhile."""
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(1.0):
        for name, alive, tail in checks:
            if not alive():
                print(f"{name} stopped unexpectedly\n{tail()}", file=sys.stderr)
                return 1
    return 0


def run_hub(workdir: Path, token_ttl: int) -> int:
    hub = Hub(workdir / "hub", reva_gateway="", refresh_margin=min(120, token_ttl // 3))
    client = Client(
        "jupyterhub", redirect_uris=[hub.callback_url], post_logout_redirect_uris=[f"{hub.url}/hub/login"]
    )
    idp = IdentityProvider(workdir / "idp", access_token_ttl=token_ttl, clients=[client])
    reva = None
    try:
        idp.start()
        reva = start_revad(workdir / "reva", oidc=OidcSettings(issuer=idp.issuer))
        hub.issuer, hub.reva_gateway = idp.issuer, reva.gateway
        hub.client_id, hub.client_secret = client.client_id, client.client_secret
        hub.start()
    except (IdpError, RevaError, HubError) as err:
        print(f"error: {err}", file=sys.stderr)
        hub.stop()
        if reva is not None:
            reva.stop()
        idp.stop()
        return 1
    print(
        "\n".join(
            [
                f"Open {hub.url}/ and log in as one of: {USERS}",
                f"  identity provider:   {idp.issuer} (access tokens live {token_ttl} s)",
                f"  reva gateway (gRPC): {reva.gateway}; storage on disk: {reva.storage_root}",
                f"  logs: {hub.log_path}, {idp.log_path}, {reva.log_path}, {workdir / 'hub' / 'users'}/*/",
                "Press Ctrl-C to stop.",
            ]
        ),
        flush=True,
    )
    try:
        return wait_for_ctrl_c(
            [
                ("JupyterHub", lambda: hub.process is not None and hub.process.poll() is None, hub.log_tail),
                ("revad", lambda: reva.running, reva.log_tail),
                ("identity provider", lambda: idp.running, idp.log_tail),
            ]
        )
    finally:
        hub.stop()
        reva.stop()
        idp.stop()


def run_lab(workdir: Path) -> int:
    try:
        reva = start_revad(workdir / "reva")
    except RevaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    lab = seed_server(reva.gateway, workdir / "jupyter", "")
    try:
        lab.start()
    except JupyterError as err:
        reva.stop()
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"JupyterLab for einstein, files in einstein's CS3 home: {lab.url}/lab?token={lab.token}\n"
        f"  reva gateway: {reva.gateway}; logs: {reva.log_path}, {lab.log_path}\nPress Ctrl-C to stop.",
        flush=True,
    )
    try:
        return wait_for_ctrl_c(
            [
                ("revad", lambda: reva.running, reva.log_tail),
                (
                    "Jupyter server",
                    lambda: lab.process is not None and lab.process.poll() is None,
                    lab.log_tail,
                ),
            ]
        )
    finally:
        lab.stop()
        reva.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.harness")
    parser.add_argument("--workdir", default=str(REPO / "build" / "run"))
    parser.add_argument("--keep", action="store_true", help="keep files from the previous run")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="identity provider, reva and JupyterHub; wait for Ctrl-C")
    run_parser.add_argument("--token-ttl", type=int, default=300, help="access token lifetime, seconds")
    sub.add_parser("lab", help="reva and JupyterLab for einstein only; wait for Ctrl-C")
    args = parser.parse_args(argv)
    workdir = Path(args.workdir)
    if workdir.exists() and not args.keep:
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.command == "lab":
        return run_lab(workdir)
    return run_hub(workdir, args.token_ttl)


if __name__ == "__main__":
    sys.exit(main())
