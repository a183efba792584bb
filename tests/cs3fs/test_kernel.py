"""A kernel started by a Jupyter server of the bundle reads and writes the files next to its
notebook with `cs3://`, with no configuration in the notebook."""

from __future__ import annotations

import pytest

from tests.contents.test_server import execute
from tests.cs3fs.test_dataframes import api_bytes, api_upload
from tests.harness.jupyter import JupyterServer, notebook_kernel

pytestmark = [pytest.mark.reva, pytest.mark.timeout(180)]

NOTEBOOK = {
    "type": "notebook",
    "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
}


async def test_a_notebook_reads_the_csv_next_to_it(server: JupyterServer, folder: str) -> None:
    async with server.client() as http:
        assert (await http.put(f"/api/contents/{folder}/sub", json={"type": "directory"})).status_code == 201
        res = await http.put(f"/api/contents/{folder}/sub/analysis.ipynb", json=NOTEBOOK)
        assert res.status_code == 201
    api_upload(server, f"{folder}/sub/data.csv", b"city,visitors\nGeneva,3\nZurich,5\n")
    api_upload(server, f"{folder}/shared.csv", b"n\n40\n2\n")

    # As JupyterLab asks for it: the notebook's path and its name.
    async with notebook_kernel(server.url, server.headers(), f"{folder}/sub/analysis.ipynb") as ws_url:
        headers = server.headers()
        # The documented one-liner, nothing configured before it.
        printed = await execute(
            ws_url, headers, 'import pandas as pd; print(pd.read_csv("cs3://data.csv")["visitors"].sum())'
        )
        assert printed.strip() == "8"
        # A file one folder up, and the same file by its path in the file browser.
        printed = await execute(
            ws_url,
            headers,
            f'print(pd.read_csv("cs3://../shared.csv")["n"].sum(), '
            f'len(pd.read_csv("cs3://~/{folder}/sub/data.csv")))',
        )
        assert printed.split() == ["42", "2"]
        # Written by the kernel, seen in the file browser next to the notebook.
        await execute(
            ws_url,
            headers,
            'df = pd.read_csv("cs3://data.csv"); df["twice"] = df["visitors"] * 2; '
            'df.to_csv("cs3://result.csv", index=False)',
        )
        assert api_bytes(server, f"{folder}/sub/result.csv") == (
            b"city,visitors,twice\nGeneva,3,6\nZurich,5,10\n"
        )
        # The root is as far as a notebook reaches.
        printed = await execute(
            ws_url,
            headers,
            "import fsspec\n"
            "try:\n"
            '    fsspec.open("cs3://../../../etc/passwd").open()\n'
            "except PermissionError as err:\n"
            "    print(type(err).__name__)",
        )
        assert printed.strip() == "PermissionError"


async def test_kernel_environment_names_the_notebook_and_holds_no_secret(
    server: JupyterServer, folder: str
) -> None:
    async with server.client() as http:
        res = await http.put(f"/api/contents/{folder}/env.ipynb", json=NOTEBOOK)
        assert res.status_code == 201
    async with notebook_kernel(server.url, server.headers(), f"{folder}/env.ipynb") as ws_url:
        printed = await execute(
            ws_url,
            server.headers(),
            "import os, json; print(os.environ['CS3FS_NOTEBOOK']); print(os.environ['FSSPEC_CS3'])",
        )
    notebook, settings = printed.strip().split("\n", 1)
    assert notebook == f"{folder}/env.ipynb"
    assert "relativity" not in settings  # the token file's path only, never its content
    secret = server.settings["CS3FileManagerMixin"]["token_path"]
    assert f'"token_path": "{secret}"' in settings
