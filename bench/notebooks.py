"""Notebooks of a chosen size, the same bytes in every process that makes them.

Big notebooks are big because of their outputs, mostly plots: each code cell here carries a
48 KiB PNG-sized output (64 KiB as base64), so a 10 MiB notebook has about 160 cells, not
ten thousand tiny ones. Only the standard library is used: the worker that drives
cs3-jupyter in its own virtualenv imports this too.
"""

from __future__ import annotations

import base64
import json
import random
from typing import Any

IMAGE_BYTES = 48 * 1024


def _cell(index: int, rng: random.Random, image_bytes: int) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": index + 1,
        "id": f"cell-{index:05d}",
        "metadata": {},
        "outputs": [
            {
                "output_type": "display_data",
                "data": {
                    "image/png": base64.b64encode(rng.randbytes(image_bytes)).decode("ascii"),
                    "text/plain": [f"<Figure {index}>"],
                },
                "metadata": {},
            }
        ],
        "source": f"plot(data[{index}])",
    }


def make_notebook(size: int) -> dict[str, Any]:
    """A valid nbformat 4.5 notebook of about `size` bytes once serialized."""
    rng = random.Random(size)
    image_bytes = min(IMAGE_BYTES, max(256, size * 3 // 4))
    one = len(json.dumps(_cell(0, random.Random(0), image_bytes), indent=1))
    cells = [_cell(i, rng, image_bytes) for i in range(max(1, round(size / one)))]
    return {
        "cells": cells,
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def notebook_bytes(notebook: dict[str, Any]) -> bytes:
    """Serialized as nbformat writes it (one-space indent, sorted keys, final newline)."""
    return (json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
