"""What is measured: the operations, and the data they read, as paths below each contender's root.

Every contender sees the same read-only `data/` folder (seeded once through raw CS3, or on the
local disk for jupyter_server's own manager) and writes only below its own `work-<name>/`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MiB = 1024 * 1024

# Operation kinds; each runner implements a coroutine of the same name.
KINDS = (
    "list",
    "get_notebook",
    "save_notebook",
    "chunked_upload",
    "get_file",
    "download",
    "copy",
    "rename",
    "concurrent_get",
)


@dataclass(frozen=True)
class Operation:
    key: str
    title: str
    kind: str
    path: str = ""  # what it reads, relative to the root
    size: int = 0  # bytes moved by one run (for throughput); 0 when that means nothing
    count: int = 0  # entries listed, or requests in parallel

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Operation:
        return cls(**data)


@dataclass(frozen=True)
class Plan:
    folders: dict[str, int] = field(default_factory=dict)  # folder -> number of files in it
    notebooks: dict[str, int] = field(default_factory=dict)  # path -> approximate size
    files: dict[str, int] = field(default_factory=dict)  # path -> exact size
    operations: list[Operation] = field(default_factory=list)


def plan(quick: bool = False) -> Plan:
    """The full benchmark, or (quick) the same operations on small data for developing it."""
    list_sizes = (10, 100) if quick else (10, 100, 1_000, 5_000)
    small, medium = (256 * 1024, MiB) if quick else (MiB, 10 * MiB)
    big = 8 * MiB if quick else 100 * MiB
    concurrent = 50

    def mib(size: int) -> str:
        return f"{size / MiB:g} MiB" if size >= MiB else f"{size // 1024} KiB"

    folders = {f"data/list-{n}": n for n in list_sizes}
    notebooks = {
        "data/nb-small.ipynb": small,
        "data/nb-medium.ipynb": medium,
        "data/nb-64kib.ipynb": 64 * 1024,
    }
    files = {"data/file-big.bin": big}
    ops = [
        Operation(f"list-{n}", f"list {n:,} entries", "list", f"data/list-{n}", count=n) for n in list_sizes
    ]
    for name, size in (("small", small), ("medium", medium)):
        path = f"data/nb-{name}.ipynb"
        ops.append(Operation(f"get-nb-{name}", f"get {mib(size)} notebook", "get_notebook", path, size))
    for name, size in (("small", small), ("medium", medium)):
        path = f"data/nb-{name}.ipynb"
        ops.append(Operation(f"save-nb-{name}", f"save {mib(size)} notebook", "save_notebook", path, size))
    ops += [
        Operation("upload-big", f"chunked upload {mib(big)}", "chunked_upload", "", big),
        Operation("get-big", f"get {mib(big)} file (contents API)", "get_file", "data/file-big.bin", big),
        Operation("download-big", f"download {mib(big)} (/files/)", "download", "data/file-big.bin", big),
        Operation("copy", f"copy {mib(medium)} notebook", "copy", "data/nb-medium.ipynb", medium),
        Operation("rename", "rename a notebook", "rename", "data/nb-64kib.ipynb"),
        Operation(
            "concurrent-get",
            f"{concurrent} concurrent gets (64 KiB notebook)",
            "concurrent_get",
            "data/nb-64kib.ipynb",
            concurrent * 64 * 1024,
            concurrent,
        ),
    ]
    return Plan(folders, notebooks, files, ops)
