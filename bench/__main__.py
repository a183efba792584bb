"""`python -m bench` (what `make bench` runs): every contender, every operation, one run.

Starts reva and three Jupyter servers once (bench/stack.py), seeds the same data for all,
runs the 1 GiB chunked-upload memory test on the servers (bench/chunked_upload_rss.py), then
measures every operation on every contender, each in a worker process of its own
(bench/workers.py), and writes bench/results/bench.{md,json,png} and prints the Markdown.

    python -m bench                       # the full run, ~10 min on 2 cores
    python -m bench --quick               # small data, 2 repeats: checks the scripts
    python -m bench --only raw,ours --ops list-1000,upload-big --profile list-1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import chunked_upload_rss, cs3jupyter_env, stack
from .contenders import BY_KEY, CONTENDERS, Contender
from .measure import Measurement, describe
from .operations import Operation, plan
from .plot import draw
from .report import Results, RssRun, markdown
from .workers import Worker, measure_operation

RESULTS = Path(__file__).resolve().parent / "results"
# The memory test per server: cs3-jupyter rewrites the whole file for every chunk, so it gets a
# time cap instead of the full upload (it would move about half a TiB for 1 GiB).
RSS_SERVERS = (
    ("ours-http", "ours", None),
    ("local-http", "local", None),
    ("cs3jupyter-http", "cs3jupyter", 60.0),
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data and 2 repeats (develop the bench)")
    parser.add_argument("--repeats", type=int, help="measured runs after the warm-up (default 5, quick 2)")
    parser.add_argument(
        "--budget", type=float, default=60.0, help="seconds of measured runs per cell, at most"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=300.0,
        help="seconds one step (setup and warm-up, or one run) may take before it counts as failed",
    )
    parser.add_argument("--only", help="contenders, comma-separated: " + ",".join(BY_KEY))
    parser.add_argument("--ops", help="operation keys, comma-separated (see bench/operations.py)")
    parser.add_argument(
        "--rss-mib", type=int, default=1024, help="size of the memory test upload; 0 skips it"
    )
    parser.add_argument("--profile", default="", help="operation keys to profile with pyinstrument")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write bench.md/json/png")
    return parser.parse_args()


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    python = platform.python_version()
    return f"{platform.node()} ({os.cpu_count()} CPUs, load {load} at the end, Python {python})"


def seed_lock_probe(st: stack.Stack, ops: list[Operation], timeout: float, **kwargs: Any) -> str | None:
    """cs3-jupyter with the seed's own lock settings (no attribute fallback): does a save work?"""
    save = [op for op in ops if op.kind == "save_notebook"][:1]
    if not save:
        return None
    probe = Contender(
        "cs3jupyter-seed-locks",
        "(c) seed lock settings",
        "c",
        "in-process",
        "manager",
        "cs3jupyter",
        "cs3jupyter",
    )
    worker = Worker(probe, st, overrides={"lock_not_impl": False, "lock_by_setting_attr": False}, **kwargs)
    try:
        [result] = measure_operation([worker], save[0], repeats=1, budget=timeout, timeout=timeout)
    finally:
        worker.stop()
    if result.error:
        return (
            "cs3-jupyter with the seed's lock settings (`lock_not_impl = False`, no attribute "
            f"locks) fails to save on this reva: `{result.error}`. It is measured with "
            "`lock_not_impl = True, lock_by_setting_attr = True` instead."
        )
    return None


def measure_all(
    workers: list[Worker], ops: list[Operation], *, repeats: int, budget: float, timeout: float
) -> list[Measurement]:
    """Every operation on every contender; within an operation the contenders' runs interleave."""
    measurements = []
    for worker in workers:
        print(f"starting the worker of {worker.contender.label} ...", file=sys.stderr, flush=True)
        worker.start()
    for op in ops:
        print(f"measuring: {op.title} ...", file=sys.stderr, flush=True)
        measurements += measure_operation(workers, op, repeats=repeats, budget=budget, timeout=timeout)
    return measurements


async def memory_test(st: stack.Stack, mib: int) -> list[RssRun]:
    runs = []
    for key, server_name, cap in RSS_SERVERS:
        run = RssRun(key, mib)
        server = st.servers.get(server_name)
        if server is None:
            run.error = f"server did not start: {st.server_errors.get(server_name, '?')}"
            runs.append(run)
            continue
        print(f"memory test: {mib} MiB chunked upload to {key} ...", file=sys.stderr, flush=True)
        try:
            r = await chunked_upload_rss.upload(server, mib, path=f"rss-{key}.bin", time_cap=cap)
            run.idle, run.peak, run.seconds, run.sent = r["idle"], r["peak"], r["seconds"], int(r["mib"])
        except Exception as err:
            run.error = describe(err)
        runs.append(run)
    return runs


def main() -> None:
    args = parse_args()
    started_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    started = time.monotonic()
    repeats = args.repeats or (2 if args.quick else 5)
    the_plan = plan(args.quick)
    ops = the_plan.operations
    if args.ops:
        wanted = set(args.ops.split(","))
        ops = [op for op in ops if op.key in wanted]
    contenders = [BY_KEY[k] for k in args.only.split(",")] if args.only else CONTENDERS
    profile = [p for p in args.profile.split(",") if p]
    results_dir: Path = args.results
    results_dir.mkdir(parents=True, exist_ok=True)
    python = cs3jupyter_env.ensure()

    measurements: list[Measurement] = []
    notes: list[str] = []
    rss: list[RssRun] = []
    worker_kwargs: dict[str, Any] = {"profile": profile, "profile_dir": results_dir / "profiles"}
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as tmp,
        stack.running(Path(tmp), the_plan, python) as st,
    ):
        if args.rss_mib:  # first, while the servers are fresh: the most conservative idle RSS
            rss = asyncio.run(memory_test(st, args.rss_mib))
        workers = [Worker(c, st, **worker_kwargs) for c in contenders]
        try:
            measurements = measure_all(
                workers, ops, repeats=repeats, budget=args.budget, timeout=args.timeout
            )
        finally:
            for worker in workers:
                worker.stop()
        if any(c.key == "cs3jupyter" for c in contenders):
            note = seed_lock_probe(st, ops, args.timeout, **worker_kwargs)
            if note:
                notes.append(note)

    results = Results(
        started=started_at,
        seconds=time.monotonic() - started,
        machine=machine(),
        repeats=repeats,
        quick=args.quick,
        operations=ops,
        contenders=[c.key for c in contenders],
        measurements=measurements,
        rss=rss,
        notes=notes,
    )
    results.save(results_dir / "bench.json")
    text = markdown(results)
    (results_dir / "bench.md").write_text(text)
    draw(results, results_dir / "bench.png")
    print(text, end="")
    print(f"\nwritten: {results_dir}/bench.md, bench.json, bench.png", file=sys.stderr)


if __name__ == "__main__":
    main()
