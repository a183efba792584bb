"""Everything the benchmark runs against, started once: reva with the plan's data seeded, and
three Jupyter servers side by side (this manager, cs3-jupyter in its own virtualenv, and
jupyter_server's AsyncLargeFileManager on a local folder holding the same data).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from cs3_contents_manager.cs3.client import ChannelSettings
from cs3_contents_manager.cs3.storage import CS3Storage
from tests.harness.jupyter import JupyterError, JupyterServer, password_file, seed_settings
from tests.harness.reva import DEMO_USERS, Revad, start_revad

from . import cs3jupyter_env
from .fixtures import seed_cs3, seed_local
from .operations import Plan

USER = "einstein"
CS3_ROOT = "/home/bench"  # every CS3 contender's root: data/ and the work-* folders
LOCAL_MANAGER = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"


@dataclass
class Stack:
    workdir: Path
    reva: Revad
    secret: Path  # the password file, the "token" of basic login
    local_root: Path  # the local disk folder of jupyter_server's own manager
    servers: dict[str, JupyterServer]  # "ours", "cs3jupyter", "local"
    server_errors: dict[str, str] = field(default_factory=dict)  # those that did not start

    def storage(self) -> CS3Storage:
        return CS3Storage(
            ChannelSettings(self.reva.gateway), login_type="basic", client_id=USER, secret=DEMO_USERS[USER]
        )


async def _seed(stack: Stack, plan: Plan) -> None:
    storage = stack.storage()
    try:
        await seed_cs3(storage, CS3_ROOT, plan)
    finally:
        await storage.close()


@contextmanager
def running(workdir: Path, plan: Plan, cs3jupyter_python: Path) -> Iterator[Stack]:
    with ExitStack() as cleanup:
        reva = start_revad(workdir / "reva")
        cleanup.callback(reva.stop)
        secret = password_file(workdir, USER)
        local_dir = workdir / "local"
        stack = Stack(workdir, reva, secret, local_dir / "local-root", {})
        print("seeding data in reva and on the local disk ...", file=sys.stderr, flush=True)
        asyncio.run(_seed(stack, plan))
        seed_local(stack.local_root, plan)

        env = {"JUPYTERHUB_USER": USER}
        ours = JupyterServer(workdir / "ours", seed_settings(reva.gateway, CS3_ROOT, secret), env=env)
        cs3jupyter_settings = {
            "ServerApp": {"contents_manager_class": cs3jupyter_env.MANAGER_CLASS},
            **cs3jupyter_env.manager_settings(reva.gateway, CS3_ROOT, secret, USER),
        }
        cs3jupyter = JupyterServer(
            workdir / "cs3jupyter", cs3jupyter_settings, env=env, python=cs3jupyter_python
        )
        local = JupyterServer(local_dir, {"ServerApp": {"contents_manager_class": LOCAL_MANAGER}})
        for name, server in (("ours", ours), ("cs3jupyter", cs3jupyter), ("local", local)):
            print(f"starting the {name} Jupyter server ...", file=sys.stderr, flush=True)
            cleanup.callback(server.stop)
            try:
                server.start()
            except JupyterError as err:
                if name == "ours":
                    raise
                stack.server_errors[name] = str(err).splitlines()[0]
                print(f"the {name} server did not start: {err}", file=sys.stderr, flush=True)
                continue
            stack.servers[name] = server
        yield stack
