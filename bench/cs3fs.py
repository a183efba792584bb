"""`cs3://` against raw reva and against WebDAV: reading and writing one large file, in one run.

Starts one revad (tests/harness, with its WebDAV service) and measures, interleaved (warm-up
of each, then run 1 of each, run 2 of each ..., each round starting with the next contender),
the same 100 MiB file:

- raw reva: InitiateFileDownload/Upload and one HTTP GET/PUT to the data gateway
  (`CS3Storage`, aiohttp), the limit any client of reva's CS3 APIs can reach (for the
  whole-file read, into one buffer of the file's size; for the streamed read, dropped);
- cs3:// as a notebook uses it: `cat` (the whole file at once, as `fs.cat` and pandas'
  readers of whole files do), `open().read()` in 1 MiB pieces (a streamed reader), `pipe`
  (bytes in memory) and `open("wb").write()` in 1 MiB pieces (spooled, uploaded on close);
- webdav4's fsspec filesystem on reva's WebDAV endpoint (ocdav), the same four ways.

Every contender runs its transfers on fsspec's I/O thread (raw reva through fsspec's own
`sync`), so the ratios compare protocols and client code, not threading. Prints a Markdown
table with medians and the throughput ratios against raw reva, and writes it to
bench/results/cs3fs.md.

    python -m bench.cs3fs [--mib 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import fsspec
from fsspec.asyn import get_loop, sync
from webdav4.fsspec import WebdavFileSystem

from cs3_contents_manager.cs3.client import ChannelSettings
from cs3_contents_manager.cs3.storage import CS3Storage
from cs3_contents_manager.cs3fs import CS3FileSystem
from tests.harness.jupyter import password_file
from tests.harness.reva import DEMO_USERS, Revad, start_revad

from .rss import MiB

RESULTS = Path(__file__).resolve().parent / "results"
USER = "einstein"
ROOT = "/home/bench-cs3fs"
PIECE = MiB


class Contenders:
    """The three clients, each with a folder of its own below ROOT."""

    def __init__(self, reva: Revad, secret: Path, data: bytes, spool_dir: str | None = None) -> None:
        self.loop = get_loop()
        self.data = data
        self.storage = CS3Storage(
            ChannelSettings(reva.gateway), login_type="basic", client_id=USER, secret=DEMO_USERS[USER]
        )
        self.cs3 = CS3FileSystem(
            host=reva.gateway,
            token_path=str(secret),
            login_type="basic",
            client_id=USER,
            root=ROOT,
            skip_instance_cache=True,
            spool_dir=spool_dir,
        )
        self.dav = WebdavFileSystem(
            f"{reva.webdav_url}/{ROOT.removeprefix('/home/')}", auth=(USER, DEMO_USERS[USER])
        )

    def close(self) -> None:
        sync(self.loop, self.storage.close)
        sync(self.loop, self.cs3.close_session)

    # raw reva ------------------------------------------------------------------------------

    def raw_read_whole(self) -> int:
        """Into memory, as `cat` must: one buffer of the file's size, filled as bytes arrive."""
        return len(sync(self.loop, self.storage.read, f"{ROOT}/raw/big.bin", len(self.data)))

    def raw_read(self) -> int:
        """Streamed and dropped: nothing held in memory, the limit of a streamed reader."""

        async def drain() -> int:
            received = 0
            async with self.storage.download(f"{ROOT}/raw/big.bin") as chunks:
                async for chunk in chunks:
                    received += len(chunk)
            return received

        return sync(self.loop, drain)

    def raw_write(self) -> int:
        sync(self.loop, self.storage.upload, f"{ROOT}/raw/big.bin", self.data, size=len(self.data))
        return len(self.data)

    # an fsspec filesystem (cs3:// or webdav4) ----------------------------------------------

    @staticmethod
    def cat(fs: fsspec.AbstractFileSystem, path: str) -> int:
        return len(fs.cat_file(path))

    @staticmethod
    def stream(fs: fsspec.AbstractFileSystem, path: str) -> int:
        received = 0
        with fs.open(path, "rb", block_size=8 * MiB) as f:
            while piece := f.read(PIECE):
                received += len(piece)
        return received

    def pipe(self, fs: fsspec.AbstractFileSystem, path: str) -> int:
        fs.pipe_file(path, self.data)
        return len(self.data)

    def write(self, fs: fsspec.AbstractFileSystem, path: str) -> int:
        view = memoryview(self.data)
        with fs.open(path, "wb") as f:
            for start in range(0, len(view), PIECE):
                f.write(view[start : start + PIECE])
        return len(self.data)

    def operations(self) -> dict[str, dict[str, Callable[[], int]]]:
        """Operation -> contender -> one run (returns the bytes moved)."""
        cs3, dav = self.cs3, self.dav
        return {
            "read (whole file)": {
                "raw reva": self.raw_read_whole,
                "cs3:// cat": lambda: self.cat(cs3, "~/cs3/big.bin"),
                "webdav4 cat": lambda: self.cat(dav, "dav/big.bin"),
            },
            "read (1 MiB pieces)": {
                "raw reva": self.raw_read,
                "cs3:// open().read()": lambda: self.stream(cs3, "~/cs3/big.bin"),
                "webdav4 open().read()": lambda: self.stream(dav, "dav/big.bin"),
            },
            "write (bytes)": {
                "raw reva": self.raw_write,
                "cs3:// pipe": lambda: self.pipe(cs3, "~/cs3/big.bin"),
                "webdav4 pipe": lambda: self.pipe(dav, "dav/big.bin"),
            },
            "write (1 MiB pieces)": {
                "raw reva": self.raw_write,
                "cs3:// open('wb').write()": lambda: self.write(cs3, "~/cs3/big.bin"),
                "webdav4 open('wb').write()": lambda: self.write(dav, "dav/big.bin"),
            },
        }

    def seed(self) -> None:
        sync(self.loop, self.storage.ensure_folder, ROOT)
        for folder in ("raw", "cs3", "dav"):
            sync(self.loop, self.storage.ensure_folder, f"{ROOT}/{folder}")
            sync(self.loop, self.storage.upload, f"{ROOT}/{folder}/big.bin", self.data, size=len(self.data))


def measure(runs: dict[str, Callable[[], int]], size: int, repeats: int) -> dict[str, list[float]]:
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for name, run in runs.items():  # warm-up
        moved = run()
        if moved != size:
            raise AssertionError(f"{name} moved {moved} bytes, not {size}")
    names = list(runs)
    for round_ in range(repeats):
        # Each round starts with the next contender: reva is still writing the previous
        # upload to disk (and keeping the old content as a version) when the next one
        # starts, and that cost must not fall on the same contender every time.
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            started = time.perf_counter()
            runs[name]()
            seconds[name].append(time.perf_counter() - started)
    return seconds


def table(results: dict[str, dict[str, list[float]]], mib: int) -> str:
    lines = [
        f"Reading and writing a {mib} MiB file (medians; x = throughput against raw reva)",
        "",
        "| operation | contender | median | min - max | MiB/s | x raw reva |",
        "|---|---|--:|--:|--:|--:|",
    ]
    ratios = []
    for op, by_contender in results.items():
        raw = statistics.median(by_contender["raw reva"])
        for name, samples in by_contender.items():
            median = statistics.median(samples)
            lines.append(
                f"| {op} | {name} | {median * 1000:.0f} ms | {min(samples) * 1000:.0f} - "
                f"{max(samples) * 1000:.0f} ms | {mib / median:.0f} | {raw / median:.2f}x |"
            )
        names = [n for n in by_contender if n != "raw reva"]
        ours = statistics.median(by_contender[names[0]])
        theirs = statistics.median(by_contender[names[1]])
        ratios.append(
            f"- {op}: cs3:// {raw / ours:.2f}x raw reva, webdav4 {raw / theirs:.2f}x raw reva; "
            f"cs3:// is {theirs / ours:.2f}x webdav4's throughput"
        )
    return "\n".join([*lines, "", *ratios, ""])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cs3fs", description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100, help="size of the file (default 100 MiB)")
    parser.add_argument("--repeats", type=int, default=5, help="measured runs after the warm-up")
    parser.add_argument(
        "--spool-dir", help="where cs3:// spools files written in pieces (default: the temporary folder)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    data = os.urandom(args.mib * MiB)
    with tempfile.TemporaryDirectory(prefix="bench-cs3fs-") as tmp:
        work = Path(tmp)
        reva = start_revad(work / "reva")
        contenders = Contenders(reva, password_file(work, USER), data, args.spool_dir)
        try:
            print("seeding ...", file=sys.stderr, flush=True)
            contenders.seed()
            results = {}
            for op, runs in contenders.operations().items():
                print(f"measuring {op} ...", file=sys.stderr, flush=True)
                results[op] = measure(runs, len(data), args.repeats)
        finally:
            contenders.close()
            reva.stop()
    text = table(results, args.mib)
    print(text)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "cs3fs.md").write_text(text)


if __name__ == "__main__":
    main()
