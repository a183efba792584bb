"""The contenders' worker processes (bench/worker.py), and one operation measured on all of them.

`measure_operation` interleaves: every contender gets its setup and warm-up, then run 1 of
each, run 2 of each, and so on, so a burst of background load (other jobs on the machine)
lands on all contenders instead of on whoever happened to be measured then.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .contenders import Contender, options_for
from .measure import Measurement, planned_runs
from .operations import Operation
from .stack import USER, Stack
from .worker import WorkerSpec

REPO = Path(__file__).resolve().parent.parent


class WorkerFailed(RuntimeError):
    """The worker did not answer in time (it was stopped) or died."""


class Worker:
    """One contender's worker process, kept up for the whole run and restarted after a failure."""

    def __init__(
        self,
        contender: Contender,
        stack: Stack,
        *,
        profile: list[str],
        profile_dir: Path,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self.contender = contender
        self.folder = stack.workdir / "workers" / contender.key
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[str] | None = None
        self.error = ""  # set when the contender cannot run at all
        if contender.runner == "http" and contender.server in stack.server_errors:
            self.error = f"server did not start: {stack.server_errors[contender.server]}"
            return
        options = options_for(contender, stack)
        if overrides:
            options["config"]["CS3FileManagerMixin"].update(overrides)
        WorkerSpec(
            contender=contender.key,
            runner=contender.runner,
            work=f"work-{contender.key}",
            options=options,
            profile=profile,
            profile_dir=str(profile_dir),
        ).write(self.folder / "spec.json")
        self.env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.folder / "config"),
            "JUPYTER_DATA_DIR": str(self.folder / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.folder / "runtime"),
            "JUPYTER_PLATFORM_DIRS": "1",
            "JUPYTERHUB_USER": USER,
        }

    @property
    def key(self) -> str:
        return self.contender.key

    @property
    def log(self) -> Path:
        return self.folder / "worker.log"

    def log_tail(self) -> str:
        try:
            return " ".join(self.log.read_text(errors="replace").splitlines()[-3:])[-300:]
        except FileNotFoundError:
            return ""

    def _read(self, timeout: float) -> dict[str, Any] | None:
        """The worker's next line, or None on timeout or end of output."""
        assert self.proc is not None
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.proc.stdout.readline()
        return json.loads(line) if line else None

    def start(self, timeout: float = 120.0) -> bool:
        if self.error:
            return False
        with self.log.open("a") as log:
            self.proc = subprocess.Popen(
                [str(self.contender.python), "-m", "bench.worker", str(self.folder / "spec.json")],
                cwd=REPO,
                env=self.env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        hello = self._read(timeout)
        if hello is None or not hello.get("ready"):
            reason = hello["error"] if hello else f"no answer within {timeout:.0f} s: {self.log_tail()}"
            self.stop()
            self.error = reason
            return False
        return True

    def call(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one command and wait for its answer; WorkerFailed if none comes."""
        if self.proc is None and not self.start():
            raise WorkerFailed(self.error)
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        reply = self._read(timeout)
        if reply is not None:
            return reply
        if self.proc.poll() is None:
            error = f"did not finish within {timeout:.0f} s (worker stopped)"
            self.proc.kill()
        else:
            error = f"worker died (exit {self.proc.returncode}): {self.log_tail()}"
        self.stop()
        print(f"{self.key}: {error}", file=sys.stderr, flush=True)
        raise WorkerFailed(error)

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class _Cell:
    worker: Worker
    result: Measurement
    runs: int = 0  # planned measured runs; 0 with a begun cell: the warm-up is the sample
    begun: bool = False


def measure_operation(
    workers: list[Worker], op: Operation, *, repeats: int, budget: float, timeout: float
) -> list[Measurement]:
    """Warm up every contender, then interleave their measured runs, then collect memory."""
    cells = [_Cell(w, Measurement(w.key, op.key)) for w in workers]
    for cell in cells:
        if cell.worker.error:
            cell.result.error = cell.worker.error
            continue
        try:
            reply = cell.worker.call({"cmd": "begin", "op": op.to_dict()}, timeout)
        except WorkerFailed as err:
            cell.result.error = str(err)
            continue
        if not reply.get("applicable", True):
            cell.result.applicable = False
            cell.result.note = reply.get("note", "")
            continue
        if "error" in reply:
            cell.result.error = reply["error"]
            continue
        cell.begun = True
        warm_up = reply["seconds"]
        cell.runs = planned_runs(warm_up, repeats, budget)
        if cell.runs == 0:
            cell.result.seconds = [warm_up]
            cell.result.note = f"one run only (it takes {warm_up:.0f} s): the warm-up is the measurement"
        elif cell.runs < repeats:
            cell.result.note = f"{cell.runs} runs only (one takes {warm_up:.0f} s)"
    for index in range(1, max((c.runs for c in cells), default=0) + 1):
        for cell in cells:
            if not cell.begun or cell.result.error or index > cell.runs:
                continue
            # Every run starts with nothing left to write back from earlier ones: a contender
            # that rewrote gigabytes (cs3-jupyter's chunked upload) would otherwise slow down
            # whichever runs come next, on the disk both reva and the spools use.
            os.sync()
            try:
                reply = cell.worker.call({"cmd": "run", "index": index}, timeout)
            except WorkerFailed as err:
                cell.result.error = str(err)
                cell.begun = False
                continue
            if "error" in reply:
                cell.result.error = reply["error"]
            else:
                cell.result.seconds.append(reply["seconds"])
    for cell in cells:
        if cell.result.error:
            cell.result.seconds = []
        if not cell.begun:
            continue
        try:
            reply = cell.worker.call({"cmd": "end", "runs": cell.runs}, timeout)
        except WorkerFailed:
            continue
        if "error" not in reply:
            cell.result.idle_rss = reply["idle_rss"]
            cell.result.peak_rss = reply["peak_rss"]
            cell.result.peak_exact = reply["peak_exact"]
    return [cell.result for cell in cells]
