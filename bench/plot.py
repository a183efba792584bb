"""One PNG: a panel per operation, a bar per contender (median, whiskers min - max, log scale).

`python -m bench.plot bench/results/bench.json bench/results/bench.png` redraws a saved run.
"""

from __future__ import annotations

import math
import statistics
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from .report import LABELS, Results, status

COLOURS = {"a": "#4d4d4d", "b": "#1f77b4", "c": "#d62728", "d": "#2ca02c"}


def short_time(value: float, _position: object = None) -> str:
    if value >= 1:
        return f"{value:g} s"
    if value >= 1e-3:
        return f"{value * 1e3:g} ms"
    return f"{value * 1e6:g} µs"


def colour(key: str) -> str:
    label = LABELS.get(key, key)
    colour = COLOURS.get(label[1:2], "#999999")
    return colour


def draw(results: Results, target: Path) -> None:
    ops = results.operations
    columns = 4
    rows = math.ceil(len(ops) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(5.2 * columns, 3.1 * rows), squeeze=False)
    keys = results.contenders
    for ax, op in zip(axes.flat, ops, strict=False):
        labels, medians, low, high, colours, flags = [], [], [], [], [], []
        for key in keys:
            m = results.cell(key, op.key)
            if status(m) == "n/a":
                continue
            labels.append(LABELS.get(key, key).replace(" 0.2.0", ""))
            colours.append(colour(key))
            bad = status(m)
            if bad or m is None:
                medians.append(0.0)
                low.append(0.0)
                high.append(0.0)
                flags.append(bad or "")
                continue
            med = statistics.median(m.seconds)
            medians.append(med)
            low.append(med - min(m.seconds))
            high.append(max(m.seconds) - med)
            flags.append("")
        y = list(range(len(labels)))
        ax.barh(y, medians, xerr=[low, high], color=colours, capsize=2, error_kw={"elinewidth": 0.8})
        ax.set_yticks(y, labels, fontsize=7)
        ax.invert_yaxis()
        ax.set_xscale("log")
        spread = max(medians) / min((v for v in medians if v > 0), default=1.0) if any(medians) else 1.0
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if spread < 100 else (1.0,)))
        ax.xaxis.set_major_formatter(FuncFormatter(short_time))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(op.title, fontsize=9)
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("time (log scale)", fontsize=7)
        positive = [v for v in medians if v > 0]
        left = min(positive) / 3 if positive else 1e-3
        for i, flag in enumerate(flags):
            if flag:
                ax.text(left * 1.1, i, flag, va="center", fontsize=7, color="#d62728")
        if positive:
            ax.set_xlim(left=left)
    for ax in list(axes.flat)[len(ops) :]:
        ax.axis("off")
    title = "Contents operations: median time, whiskers min - max (lower is better)"
    if results.quick:
        title += " — quick run, small data"
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    draw(Results.load(Path(sys.argv[1])), Path(sys.argv[2]))
