"""Runners drive one contender through the operations, one coroutine per operation kind.

`raw` calls reva directly (CS3Storage), `manager` calls a contents manager's methods in this
process, `http` talks to a running Jupyter server. Only `manager` may be imported in the
cs3-jupyter virtualenv, so this module and that one use the standard library and
jupyter_server alone.
"""

from __future__ import annotations

import base64
import os
from functools import cached_property
from typing import Any

from ..operations import MiB, Operation


class NotApplicable(Exception):
    """The contender has no way to do this operation (e.g. /files/ without a server)."""


class Runner:
    """Base class: `run` dispatches on the operation's kind to a coroutine of that name."""

    def __init__(self, work: str, options: dict[str, Any]) -> None:
        self.work = work  # writable folder, relative to the root
        self.options = options

    @property
    def pid(self) -> int:
        """The process doing the work, whose memory is measured."""
        return os.getpid()

    async def start(self) -> None:
        """Connect, log in, create the work folder."""

    async def close(self) -> None:
        """Release connections."""

    async def setup(self, op: Operation) -> None:
        """Untimed preparation before the warm-up run of `op`."""
        if op.kind == "rename":
            await self.put_notebook(op.path, f"{self.work}/rename-0.ipynb")

    async def put_notebook(self, source: str, target: str) -> None:
        """Copy a notebook untimed (for rename), by whatever means the contender has."""
        raise NotApplicable("no way to place a notebook")

    async def run(self, op: Operation, index: int) -> None:
        """Run `op` once; `index` 0 is the warm-up, then 1..n."""
        method = getattr(self, op.kind, None)
        if method is None:
            raise NotApplicable(f"{type(self).__name__} cannot {op.kind}")
        await method(op, index)

    # -- shared helpers --------------------------------------------------------------------

    @cached_property
    def chunk_base64(self) -> str:
        """One 1 MiB block of random bytes, base64-encoded, sent as every chunk of an upload."""
        return base64.b64encode(os.urandom(MiB)).decode("ascii")

    @staticmethod
    def rename_paths(work: str, index: int) -> tuple[str, str]:
        """Renames alternate between two names, so every run renames an existing file."""
        return f"{work}/rename-{index % 2}.ipynb", f"{work}/rename-{(index + 1) % 2}.ipynb"

    @staticmethod
    def chunk_numbers(size: int) -> list[int]:
        """JupyterLab's numbering for an upload of `size` bytes in 1 MiB chunks: 1, 2, ..., -1."""
        count = max(1, size // MiB)
        return [*range(1, count), -1]


__all__ = ["NotApplicable", "Runner"]
