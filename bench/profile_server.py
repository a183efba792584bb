"""Profile this manager's Jupyter server (not the client) with pyinstrument during chosen operations.

    python -m bench.profile_server --ops upload-big,download-big [--repeats 3]

Starts reva and a Jupyter server on CS3LargeFileManager whose config file also installs a
SIGUSR2 toggle: the first signal starts a pyinstrument profiler in the server's main thread
(the event loop), the second stops it and writes the report. Each operation gets a warm-up
run, then the profiled runs, driven over HTTP by the same runner as `python -m bench`.
Reports go to bench/results/profiles/server-<operation>.{txt,html}. For the in-process side,
`python -m bench --only ours --ops KEY --profile KEY` profiles the manager itself.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from cs3_contents_manager.cs3.client import ChannelSettings
from cs3_contents_manager.cs3.storage import CS3Storage
from tests.harness.jupyter import JupyterServer, password_file, seed_settings
from tests.harness.reva import DEMO_USERS, start_revad

from .fixtures import seed_cs3
from .operations import plan
from .runners.http import HttpRunner
from .stack import CS3_ROOT, USER

RESULTS = Path(__file__).resolve().parent / "results" / "profiles"

# Appended to the server's config file: runs in the server process at start-up.
HOOK = """
import signal as _signal
from pathlib import Path as _Path
from pyinstrument import Profiler as _Profiler

_bench_profiler = []

def _bench_toggle(*_args):
    if not _bench_profiler:
        profiler = _Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        _bench_profiler.append(profiler)
        return
    profiler = _bench_profiler.pop()
    profiler.stop()
    target = _Path(_Path({control!r}).read_text().strip())
    target.with_suffix(".html").write_text(profiler.output_html())
    target.with_name(target.name + "-all.txt").write_text(profiler.output_text(unicode=True, show_all=True))
    target.with_suffix(".txt").write_text(profiler.output_text(unicode=True))

_signal.signal(_signal.SIGUSR2, _bench_toggle)
"""


class ProfiledServer(JupyterServer):
    """A JupyterServer whose config file also installs the SIGUSR2 profiler toggle."""

    @property
    def control(self) -> Path:
        return self.workdir / "profile-target"

    def write_config(self) -> Path:
        path = super().write_config()
        with path.open("a") as f:
            f.write(HOOK.format(control=str(self.control)))
        return path

    def toggle(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGUSR2)


async def profile(server: ProfiledServer, keys: list[str], repeats: int, target_dir: Path) -> None:
    ops = [op for op in plan().operations if op.key in keys]
    assert server.process is not None
    runner = HttpRunner("work-profile", {"url": server.url, "token": server.token, "pid": server.process.pid})
    await runner.start()
    try:
        for op in ops:
            target = target_dir / f"server-{op.key}"
            target.parent.mkdir(parents=True, exist_ok=True)
            server.control.write_text(str(target))
            target.with_suffix(".txt").unlink(missing_ok=True)
            await runner.setup(op)
            await runner.run(op, 0)
            server.toggle()
            await asyncio.sleep(0.2)
            started = time.perf_counter()
            for index in range(1, repeats + 1):
                await runner.run(op, index)
            seconds = (time.perf_counter() - started) / repeats
            server.toggle()
            for _ in range(300):  # the report takes a moment to render
                if target.with_suffix(".txt").exists():
                    break
                await asyncio.sleep(0.2)
            print(f"{op.title}: {seconds * 1e3:.0f} ms per run; {target}.txt / .html", file=sys.stderr)
    finally:
        await runner.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.profile_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--ops", required=True, help="operation keys, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        work = Path(tmp)
        reva = start_revad(work / "reva")
        try:
            asyncio.run(_seed(reva.gateway))
            secret = password_file(work, USER)
            server = ProfiledServer(
                work / "server", seed_settings(reva.gateway, CS3_ROOT, secret), env={"JUPYTERHUB_USER": USER}
            )
            server.start()
            try:
                asyncio.run(profile(server, args.ops.split(","), args.repeats, args.results))
            finally:
                server.stop()
        finally:
            reva.stop()


async def _seed(gateway: str) -> None:
    storage = CS3Storage(
        ChannelSettings(gateway), login_type="basic", client_id=USER, secret=DEMO_USERS[USER]
    )
    try:
        await seed_cs3(storage, CS3_ROOT, plan())
    finally:
        await storage.close()


if __name__ == "__main__":
    main()
