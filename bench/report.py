"""Turn one run's measurements into Markdown: the full table, medians at a glance, the issue's
targets with verdicts, the 1 GiB memory figure and notes (failures with their messages).

`python -m bench.report bench/results/bench.json` renders a saved run again.
"""

from __future__ import annotations

import json
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .measure import Measurement
from .operations import MiB, Operation

# Contender keys and labels, in table order (kept here so a saved run renders without the stack).
LABELS = {
    "raw": "(a) raw reva",
    "ours": "(b) this manager",
    "ours-http": "(b) this manager, HTTP",
    "cs3jupyter": "(c) cs3-jupyter 0.2.0",
    "cs3jupyter-http": "(c) cs3-jupyter 0.2.0, HTTP",
    "local": "(d) local disk",
    "local-http": "(d) local disk, HTTP",
}
# Each contender is compared with (c) in the same mode: in-process with in-process.
CS3JUPYTER_PEER = {
    "cs3jupyter-http": "cs3jupyter-http",
    "ours-http": "cs3jupyter-http",
    "local-http": "cs3jupyter-http",
}
GIB_TARGET = 64 * MiB


@dataclass
class RssRun:
    """One chunked upload of the memory test (chunked_upload_rss.upload) on one server."""

    contender: str
    mib: int  # planned size
    idle: float = 0.0
    peak: float = 0.0
    seconds: float = 0.0
    sent: int = 0  # MiB actually sent (less when the time cap stopped it)
    error: str = ""


@dataclass
class Results:
    started: str
    seconds: float
    machine: str
    repeats: int
    quick: bool
    operations: list[Operation]
    contenders: list[str]
    measurements: list[Measurement]
    rss: list[RssRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def save(self, path: Path) -> None:
        data = asdict(self)
        path.write_text(json.dumps(data, indent=1))

    @classmethod
    def load(cls, path: Path) -> Results:
        data: dict[str, Any] = json.loads(path.read_text())
        data["operations"] = [Operation.from_dict(o) for o in data["operations"]]
        data["measurements"] = [Measurement.from_dict(m) for m in data["measurements"]]
        data["rss"] = [RssRun(**r) for r in data["rss"]]
        return cls(**data)

    def cell(self, contender: str, op: str) -> Measurement | None:
        for m in self.measurements:
            if m.contender == contender and m.operation == op:
                return m
        return None

    def median(self, contender: str, op: str) -> float | None:
        m = self.cell(contender, op)
        if m is None or m.error or not m.applicable or not m.seconds:
            return None
        return statistics.median(m.seconds)


# -- formatting ----------------------------------------------------------------------------


def fmt_seconds(value: float, unit: float | None = None) -> str:
    unit = unit if unit is not None else value
    if unit >= 1:
        return f"{value:.2f} s"
    if unit >= 0.001:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} µs"


def fmt_ratio(value: float) -> str:
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def fmt_mib(value: float) -> str:
    return f"{value / MiB:.0f}"


def status(m: Measurement | None) -> str | None:
    """'fails' / 'n/a' / 'not run' for a cell without times, else None."""
    if m is None:
        return "not run"
    if not m.applicable:
        return "n/a"
    if m.error:
        return "fails"
    return None


def peer_of(contender: str) -> str:
    return CS3JUPYTER_PEER.get(contender, "cs3jupyter")


# -- tables --------------------------------------------------------------------------------


def full_table(r: Results) -> list[str]:
    lines = [
        "| operation | contender | median | min - max | n | MiB/s | x (a) | (c) ÷ this "
        "| peak RSS MiB (+ over idle) |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for op in r.operations:
        raw = r.median("raw", op.key)
        for key in r.contenders:
            m = r.cell(key, op.key)
            label = LABELS.get(key, key)
            bad = status(m)
            if bad or m is None:
                if bad == "n/a":
                    continue
                lines.append(f"| {op.title} | {label} | {bad} | | | | | | |")
                continue
            med = statistics.median(m.seconds)
            span = f"{fmt_seconds(min(m.seconds), max(m.seconds))} - {fmt_seconds(max(m.seconds))}"
            speed = f"{op.size / MiB / med:.0f}" if op.size else ""
            vs_raw = fmt_ratio(med / raw) if raw else ""
            peer = r.median(peer_of(key), op.key)
            peer_status = status(r.cell(peer_of(key), op.key))
            vs_c = fmt_ratio(peer / med) if peer else (peer_status or "")
            rss = ""
            if m.peak_rss is not None and m.idle_rss is not None:
                prefix = "" if m.peak_exact else "≤ "
                rss = f"{prefix}{fmt_mib(m.peak_rss)} (+{fmt_mib(max(0, m.peak_rss - m.idle_rss))})"
            lines.append(
                f"| {op.title} | {label} | {fmt_seconds(med)} | {span} | {len(m.seconds)} | {speed} "
                f"| {vs_raw} | {vs_c} | {rss} |"
            )
    return lines


def glance_table(r: Results) -> list[str]:
    header = "| operation | " + " | ".join(LABELS.get(k, k) for k in r.contenders) + " |"
    lines = [header, "|---|" + "--:|" * len(r.contenders)]
    for op in r.operations:
        cells = []
        for key in r.contenders:
            m = r.cell(key, op.key)
            bad = status(m)
            cells.append(bad if bad else fmt_seconds(statistics.median(m.seconds)))  # type: ignore[union-attr]
        lines.append(f"| {op.title} | " + " | ".join(cells) + " |")
    return lines


# -- targets -------------------------------------------------------------------------------


@dataclass
class Target:
    what: str
    measured: str
    met: bool | None  # None: could not be evaluated

    @property
    def verdict(self) -> str:
        return {True: "met", False: "**missed**", None: "not evaluated"}[self.met]


def _ratio_target(
    r: Results, op: str, ours: str, other: str, limit: float, *, faster: bool, what: str
) -> Target:
    """faster: other/ours must be >= limit; else ours/other must be <= limit."""
    mine, theirs = r.median(ours, op), r.median(other, op)
    if mine is None or theirs is None:
        missing = ours if mine is None else other
        return Target(what, f"{LABELS.get(missing, missing)}: {status(r.cell(missing, op))}", None)
    value = theirs / mine if faster else mine / theirs
    detail = f"{fmt_ratio(value)} ({fmt_seconds(mine)} vs {fmt_seconds(theirs)})"
    return Target(what, detail, value >= limit if faster else value <= limit)


def _throughput_target(r: Results, op: Operation, ours: str, other: str, other_op: str, what: str) -> Target:
    mine, theirs = r.median(ours, op.key), r.median(other, other_op)
    if mine is None or theirs is None:
        return Target(what, "not measured", None)
    share = theirs / mine  # throughput ratio = time ratio inverted
    detail = f"{share:.2f}x ({op.size / MiB / mine:.0f} vs {op.size / MiB / theirs:.0f} MiB/s)"
    return Target(what, detail, share >= 0.8)


def targets(r: Results) -> list[Target]:
    ops = {op.key: op for op in r.operations}
    found: list[Target] = []
    if "list-1000" in ops:
        found += [
            _ratio_target(
                r, "list-1000", "ours", "cs3jupyter", 10, faster=True, what="list 1,000: ≥10x faster than (c)"
            ),
            _ratio_target(
                r, "list-1000", "ours", "raw", 1.5, faster=False, what="list 1,000: within 1.5x of (a)"
            ),
            _ratio_target(
                r,
                "list-1000",
                "ours-http",
                "cs3jupyter-http",
                10,
                faster=True,
                what="list 1,000 over HTTP: ≥10x faster than (c) over HTTP",
            ),
            _ratio_target(
                r,
                "list-1000",
                "ours-http",
                "raw",
                1.5,
                faster=False,
                what="list 1,000 over HTTP: within 1.5x of (a)",
            ),
        ]
    if "upload-big" in ops:
        op = ops["upload-big"]
        found += [
            _throughput_target(r, op, "ours", "raw", op.key, f"save ({op.title}): ≥0.8x (a)'s throughput"),
            _throughput_target(r, op, "ours-http", "raw", op.key, "save over HTTP: ≥0.8x (a)'s throughput"),
        ]
    if "download-big" in ops:
        op = ops["download-big"]
        found.append(
            _throughput_target(
                r, op, "ours-http", "raw", op.key, f"get ({op.title}, HTTP): ≥0.8x (a)'s throughput"
            )
        )
    if "get-big" in ops:
        op = ops["get-big"]
        found += [
            _throughput_target(r, op, "ours", "raw", op.key, f"get ({op.title}): ≥0.8x (a)'s throughput"),
            _throughput_target(r, op, "ours-http", "raw", op.key, "get (contents API over HTTP): ≥0.8x (a)"),
        ]
    for run in r.rss:
        if run.contender != "ours-http":
            continue
        what = f"chunked upload of {run.mib} MiB: peak RSS < 64 MiB above idle"
        if run.error or run.sent < run.mib:
            found.append(Target(what, run.error or f"stopped after {run.sent} MiB", None))
        else:
            growth = run.peak - run.idle
            found.append(Target(what, f"+{growth / MiB:.1f} MiB", growth < GIB_TARGET))
    return found


def rss_table(r: Results) -> list[str]:
    lines = [
        "| server | idle RSS MiB | peak RSS MiB | peak - idle MiB | MiB sent | seconds | MiB/s |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    for run in r.rss:
        label = LABELS.get(run.contender, run.contender)
        if run.error:
            lines.append(f"| {label} | fails: {run.error} | | | | | |")
            continue
        sent = f"{run.sent}" if run.sent == run.mib else f"{run.sent} of {run.mib} (time cap)"
        lines.append(
            f"| {label} | {run.idle / MiB:.0f} | {run.peak / MiB:.0f} | {(run.peak - run.idle) / MiB:.0f} "
            f"| {sent} | {run.seconds:.1f} | {run.sent / max(run.seconds, 1e-9):.0f} |"
        )
    return lines


def notes(r: Results) -> list[str]:
    found = list(r.notes)
    for m in r.measurements:
        title = next((op.title for op in r.operations if op.key == m.operation), m.operation)
        label = LABELS.get(m.contender, m.contender)
        if m.error:
            found.append(f"{label} fails *{title}*: `{m.error}`")
        elif m.note and m.applicable:
            found.append(f"{label}, *{title}*: {m.note}")
    return found


def markdown(r: Results) -> str:
    out = [
        "# Contents manager benchmark",
        "",
        f"Run {r.started} on {r.machine}; {r.seconds / 60:.1f} min. Median and min - max of "
        f"n runs after a warm-up: {r.repeats}, up to 15 for quick operations, fewer only where "
        "one run exceeds the time budget (see the notes); the runs of "
        "all contenders of an operation interleave, so background load falls on all of them. "
        "Times are wall-clock for one operation; *x (a)* is the time relative to raw reva, "
        "*(c) ÷ this* is how many times faster than cs3-jupyter 0.2.0 in the same mode "
        "(in-process against in-process, HTTP against HTTP). Peak RSS is the process doing the "
        "work: the worker for in-process rows, the Jupyter server for HTTP rows.",
        "",
    ]
    if r.quick:
        out += ["**Quick run: small data, for developing the benchmark only.**", ""]
    out += ["## Targets (issue #6)", "", "| target | measured | verdict |", "|---|---|---|"]
    out += [f"| {t.what} | {t.measured} | {t.verdict} |" for t in targets(r)]
    out += ["", "## Medians at a glance", "", *glance_table(r)]
    out += ["", "## All measurements", "", *full_table(r)]
    if r.rss:
        out += ["", "## Memory during a large chunked upload (Jupyter server RSS)", "", *rss_table(r)]
    found = notes(r)
    if found:
        out += ["", "## Notes", ""] + [f"- {n}" for n in found]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(Results.load(Path(sys.argv[1]))), end="")
