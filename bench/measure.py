"""Timing one operation on one contender: an untimed setup, a warm-up run, measured runs.

The worker process holds a `Timing` per operation and runs one step per command, so the
orchestrator can interleave the runs of all contenders (run 1 of each, then run 2 of each...)
and background load falls on all of them alike. The peak memory of the process doing the work
is its kernel high-water mark, reset after the warm-up; when no run follows the warm-up (it
alone took the whole time budget), the warm-up's own peak is reported.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from .operations import Operation
from .rss import peak_bytes, reset_peak, rss_bytes
from .runners import Runner


@dataclass
class Measurement:
    contender: str
    operation: str
    seconds: list[float] = field(default_factory=list)
    idle_rss: int | None = None  # RSS right before the measured runs
    peak_rss: int | None = None  # highest RSS during them
    peak_exact: bool = True  # False: the kernel refused the reset, peak is since start
    error: str | None = None  # the contender failed: its message
    applicable: bool = True  # False: the contender has no such operation
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Measurement:
        return cls(**data)


def describe(err: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


QUICK_SECONDS = 5.0  # quick operations get more runs, up to this much time ...
MOST_RUNS = 15  # ... and this many runs: medians of noisy sub-second timings settle


def planned_runs(warm_up: float, repeats: int, budget: float) -> int:
    """How many measured runs: `repeats`, more for quick operations, fewer when they would not
    fit the budget; 0 means the warm-up is the only run."""
    if warm_up * repeats > budget:
        return int(budget // warm_up)
    more = int(QUICK_SECONDS // max(warm_up, 1e-6))
    return max(repeats, min(more, MOST_RUNS, int(budget // max(warm_up, 1e-6))))


class RunProfiler(Protocol):
    """Profiles the measured runs only (started and stopped around each), written at the end."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def finish(self) -> None: ...


class Timing:
    """One operation on one runner, step by step: begin (setup and warm-up), run, end."""

    def __init__(self, runner: Runner, op: Operation, profiler: RunProfiler | None = None) -> None:
        self.runner = runner
        self.op = op
        self.pid = runner.pid
        self.profiler = profiler
        self.exact = True
        self.warm_up_idle = 0
        self.warm_up_peak = 0
        self.idle = 0

    async def begin(self) -> float:
        await self.runner.setup(self.op)
        self.exact = reset_peak(self.pid)
        self.warm_up_idle = rss_bytes(self.pid)
        started = time.perf_counter()
        await self.runner.run(self.op, 0)
        seconds = time.perf_counter() - started
        self.warm_up_peak = peak_bytes(self.pid)
        self.exact = reset_peak(self.pid) and self.exact
        self.idle = rss_bytes(self.pid)
        return seconds

    async def run(self, index: int) -> float:
        if self.profiler is not None:
            self.profiler.start()
        started = time.perf_counter()
        try:
            await self.runner.run(self.op, index)
        finally:
            if self.profiler is not None:
                self.profiler.stop()
        return time.perf_counter() - started

    def end(self, runs: int) -> dict[str, Any]:
        if self.profiler is not None and runs:
            self.profiler.finish()
        if runs == 0:
            return {"idle_rss": self.warm_up_idle, "peak_rss": self.warm_up_peak, "peak_exact": self.exact}
        return {"idle_rss": self.idle, "peak_rss": peak_bytes(self.pid), "peak_exact": self.exact}
