"""`python -m bench.worker SPEC.json`: one contender, measured in a process of its own.

bench/__main__ starts one worker per contender, so each has its own memory to measure (the
cs3-jupyter one in its own virtualenv, where only the standard library, jupyter_server and
this package's stdlib-only modules are importable). The workers stay up for the whole run and
are given the operations one at a time, every contender in turn, so the contenders of one
operation are measured minutes apart at most, under the same background load.

Protocol, one JSON document per line: the worker answers `{"ready": true}` (or `false` with
an `error`) once connected, then answers each command read from stdin on stdout:
`{"cmd": "begin", "op": {...}}` (setup and warm-up: `{"seconds": ...}`),
`{"cmd": "run", "index": i}` (`{"seconds": ...}`), `{"cmd": "end", "runs": n}` (memory).
A failure answers `{"error": ...}`, an operation the contender has no way to do
`{"applicable": false, "note": ...}`. End of input ends the worker. Anything else the process
prints goes to stderr.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from .measure import RunProfiler, Timing, describe
from .operations import Operation
from .runners import NotApplicable, Runner

RUNNERS = {
    "raw": "bench.runners.raw:RawRunner",
    "manager": "bench.runners.manager:ManagerRunner",
    "http": "bench.runners.http:HttpRunner",
}


@dataclass
class WorkerSpec:
    contender: str
    runner: str  # a key of RUNNERS
    work: str  # writable folder below the root
    options: dict[str, Any]  # the runner's
    profile: list[str] = field(default_factory=list)  # operation keys to profile
    profile_dir: str = ""

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def read(cls, path: Path) -> WorkerSpec:
        return cls(**json.loads(path.read_text()))


def make_runner(spec: WorkerSpec) -> Runner:
    module, _, name = RUNNERS[spec.runner].partition(":")
    cls = getattr(importlib.import_module(module), name)
    return cls(spec.work, spec.options)  # type: ignore[no-any-return]


class Pyinstrument:
    """A pyinstrument profiler around the measured runs of one operation (see measure.Timing)."""

    def __init__(self, target: Path) -> None:
        from pyinstrument import Profiler

        self.target = target
        self.profiler = Profiler(interval=0.0005, async_mode="enabled")

    def start(self) -> None:
        self.profiler.start()

    def stop(self) -> None:
        self.profiler.stop()

    def finish(self) -> None:
        self.target.parent.mkdir(parents=True, exist_ok=True)
        text = self.profiler.output_text(unicode=True, show_all=False)
        self.target.with_suffix(".txt").write_text(text)
        text = self.profiler.output_text(unicode=True, show_all=True)
        self.target.with_name(self.target.name + "-all.txt").write_text(text)
        self.target.with_suffix(".html").write_text(self.profiler.output_html())


def profiler_for(spec: WorkerSpec, op: Operation) -> RunProfiler | None:
    if op.key not in spec.profile:
        return None
    return Pyinstrument(Path(spec.profile_dir) / f"{spec.contender}-{op.key}")


def _protocol_stream() -> IO[str]:
    """The real stdout for the protocol; fd 1 itself then points at stderr, so stray prints
    (of this process or of C extensions) cannot corrupt it."""
    stream = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return stream


def _send(stream: IO[str], data: dict[str, Any]) -> None:
    stream.write(json.dumps(data) + "\n")
    stream.flush()


async def answer(runner: Runner, spec: WorkerSpec, state: dict[str, Timing], msg: dict[str, Any]) -> Any:
    cmd = msg["cmd"]
    if cmd == "begin":
        op = Operation.from_dict(msg["op"])
        state["timing"] = Timing(runner, op, profiler_for(spec, op))
        return {"seconds": await state["timing"].begin()}
    if cmd == "run":
        return {"seconds": await state["timing"].run(msg["index"])}
    if cmd == "end":
        return state.pop("timing").end(msg["runs"])
    raise ValueError(f"unknown command {cmd!r}")


async def serve(spec: WorkerSpec, out: IO[str]) -> None:
    try:
        runner = make_runner(spec)
        await runner.start()
    except Exception as err:
        _send(out, {"ready": False, "error": f"could not start: {describe(err)}"})
        return
    _send(out, {"ready": True})
    loop = asyncio.get_running_loop()
    state: dict[str, Timing] = {}
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            try:
                reply = await answer(runner, spec, state, json.loads(line))
            except NotApplicable as err:
                reply = {"applicable": False, "note": str(err)}
            except Exception as err:
                reply = {"error": describe(err)}
            _send(out, reply)
    finally:
        await runner.close()


def main() -> None:
    out = _protocol_stream()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(WorkerSpec.read(Path(sys.argv[1])), out))


if __name__ == "__main__":
    main()
