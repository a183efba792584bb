"""jupyter_server's large-file and checkpoint tests (tests/services/contents/
test_largefilemanager.py and test_checkpoints.py, 2.21.1), run against CS3LargeFileManager and
its CS3FileCheckpoints on a real revad.

Upstream runs the large-file tests against LargeFileManager and AsyncLargeFileManager, and the
checkpoint tests against both managers combined with FileCheckpoints, GenericFileCheckpoints and
their async variants; here there is one pair, CS3LargeFileManager with CS3FileCheckpoints. The
files upstream writes on the local disk (the `contents` fixture of jupyter_server's
tests/conftest.py, and the `foo` folder of test_save_in_subdirectory) are created over CS3 with
`admin`. The notebook signature store lives in a private JUPYTER_DATA_DIR per test.

Upstream tests left out: none. Left out are only the parametrizations over the sync managers
(LargeFileManager, FileCheckpoints, GenericFileCheckpoints) and over the local-disk checkpoint
classes (AsyncFileCheckpoints, AsyncGenericFileCheckpoints), which store checkpoints on the
local disk and do not apply to a CS3 manager.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from nbformat import from_dict, writes
from nbformat.v4 import new_markdown_cell, new_notebook
from tornado.web import HTTPError

from cs3_contents_manager import CS3LargeFileManager
from cs3_contents_manager.cs3.storage import CS3Storage
from tests.contents.conftest import DIRS


@pytest.fixture(autouse=True)
def private_jupyter_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notebook signatures go to the test's own folder, not the user's data dir."""
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))


@pytest.fixture
async def contents(admin: CS3Storage, cs3_root: str) -> dict[str, list[str]]:
    """Upstream's `contents` fixture, stored in the CS3 root instead of on the local disk."""
    paths: dict[str, list[str]] = {"notebooks": [], "textfiles": [], "blobs": []}
    for folder, name in DIRS:
        base = cs3_root
        for part in folder.split("/") if folder else []:
            base = f"{base}/{part}"
            await admin.ensure_folder(base)
        prefix = f"{folder}/" if folder else ""

        # Create a notebook
        nb = writes(new_notebook(), version=4).encode("utf-8")
        await admin.upload(f"{base}/{name}.ipynb", nb, size=len(nb))
        paths["notebooks"].append(f"{prefix}{name}.ipynb")

        # Create a text file
        txt = f"{name} text file".encode()
        await admin.upload(f"{base}/{name}.txt", txt, size=len(txt))
        paths["textfiles"].append(f"{prefix}{name}.txt")

        # Create a random blob
        blob = name.encode("utf-8") + b"\xff"
        await admin.upload(f"{base}/{name}.blob", blob, size=len(blob))
        paths["blobs"].append(f"{prefix}{name}.blob")
    return paths


def expected_http_error(
    error: pytest.ExceptionInfo[HTTPError], code: int, message: str | None = None
) -> bool:
    e = error.value
    if e.status_code != code:
        return False
    return message is None or message == str(e)


# ----------------- test_largefilemanager.py ----------------------------------


async def test_save(cm: CS3LargeFileManager) -> None:
    model = await cm.new_untitled(type="notebook")
    name = model["name"]
    path = model["path"]

    # Get the model with 'content'
    full_model = await cm.get(path)
    # Save the notebook
    model = await cm.save(full_model, path)
    assert isinstance(model, dict)
    assert "name" in model
    assert "path" in model
    assert model["name"] == name
    assert model["path"] == path


@pytest.mark.parametrize(
    ("model", "err_message"),
    [
        pytest.param(
            {"name": "test", "path": "test", "chunk": 1},
            "HTTP 400: Bad Request (No file type provided)",
            id="no-type",
        ),
        pytest.param(
            {"name": "test", "path": "test", "chunk": 1, "type": "notebook"},
            'HTTP 400: Bad Request (File type "notebook" is not supported for large file transfer)',
            id="notebook",
        ),
        pytest.param(
            {"name": "test", "path": "test", "chunk": 1, "type": "file"},
            "HTTP 400: Bad Request (No file content provided)",
            id="no-content",
        ),
        pytest.param(
            {
                "name": "test",
                "path": "test",
                "chunk": 2,
                "type": "file",
                "content": "test",
                "format": "json",
            },
            "HTTP 400: Bad Request (Must specify format of file contents as 'text' or 'base64')",
            id="bad-format",
        ),
    ],
)
async def test_bad_save(cm: CS3LargeFileManager, model: dict[str, Any], err_message: str) -> None:
    with pytest.raises(HTTPError) as e:
        await cm.save(model, model["path"])
    assert expected_http_error(e, 400, err_message)


async def test_saving_different_chunks(cm: CS3LargeFileManager) -> None:
    model = {
        "name": "test",
        "path": "test",
        "type": "file",
        "content": "test==",
        "format": "text",
    }
    name = model["name"]
    path = model["path"]
    await cm.save(model, path)

    for chunk in (1, 2, -1):
        for fm in ("text", "base64"):
            full_model = await cm.get(path)
            full_model["chunk"] = chunk
            full_model["format"] = fm
            model_res = await cm.save(full_model, path)
            assert isinstance(model_res, dict)
            assert "name" in model_res
            assert "path" in model_res
            assert "chunk" not in model_res
            assert model_res["name"] == name
            assert model_res["path"] == path


async def test_save_in_subdirectory(cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str) -> None:
    await admin.mkdir(f"{cs3_root}/foo")
    model = await cm.new_untitled(path="/foo/", type="notebook")
    path = model["path"]
    model = await cm.get(path)

    # Change the name in the model for rename
    model = await cm.save(model, path)
    assert isinstance(model, dict)
    assert "name" in model
    assert "path" in model
    assert model["name"] == "Untitled.ipynb"
    assert model["path"] == "foo/Untitled.ipynb"


# ----------------- test_checkpoints.py ----------------------------------


async def test_checkpoints_follow_file(cm: CS3LargeFileManager, contents: dict[str, list[str]]) -> None:
    path = "foo/a.ipynb"

    # Read initial file.
    model = await cm.get(path)

    # Create a checkpoint of initial state
    cp1 = await cm.create_checkpoint(path)

    # Modify file and save.
    nbcontent = model["content"]
    nb = from_dict(nbcontent)
    hcell = new_markdown_cell("Created by test")
    nb.cells.append(hcell)
    nbmodel = {"content": nb, "type": "notebook"}
    await cm.save(nbmodel, path)

    # List checkpoints
    cps = await cm.list_checkpoints(path)
    assert cps == [cp1]

    model = await cm.get(path)
    nbcontent = model["content"]
    nb = from_dict(nbcontent)
    assert nb.cells[0].source == "Created by test"


async def test_nb_checkpoints(cm: CS3LargeFileManager, contents: dict[str, list[str]]) -> None:
    path = "foo/a.ipynb"
    model = await cm.get(path)
    cp1 = await cm.create_checkpoint(path)
    assert set(cp1) == {"id", "last_modified"}

    # Modify it.
    nbcontent = model["content"]
    nb = from_dict(nbcontent)
    hcell = new_markdown_cell("Created by test")
    nb.cells.append(hcell)

    # Save it.
    nbmodel = {"content": nb, "type": "notebook"}
    await cm.save(nbmodel, path)

    # List checkpoints
    cps = await cm.list_checkpoints(path)
    assert cps == [cp1]

    nbcontent = await cm.get(path)
    nb = from_dict(nbcontent["content"])
    assert nb.cells[0].source == "Created by test"

    # Restore Checkpoint cp1
    await cm.restore_checkpoint(cp1["id"], path)

    nbcontent = await cm.get(path)
    nb = from_dict(nbcontent["content"])
    assert nb.cells == []

    # Delete cp1
    await cm.delete_checkpoint(cp1["id"], path)

    cps = await cm.list_checkpoints(path)
    assert cps == []


async def test_file_checkpoints(cm: CS3LargeFileManager, contents: dict[str, list[str]]) -> None:
    path = "foo/a.txt"
    model = await cm.get(path)
    orig_content = model["content"]

    cp1 = await cm.create_checkpoint(path)
    assert set(cp1) == {"id", "last_modified"}

    # Modify and save it.
    model["content"] = new_content = orig_content + "\nsecond line"
    await cm.save(model, path)

    # List checkpoints
    cps = await cm.list_checkpoints(path)
    assert cps == [cp1]

    model = await cm.get(path)
    assert model["content"] == new_content

    # Restore Checkpoint cp1
    await cm.restore_checkpoint(cp1["id"], path)

    restored_content = await cm.get(path)
    assert restored_content["content"] == orig_content

    # Delete cp1
    await cm.delete_checkpoint(cp1["id"], path)

    cps = await cm.list_checkpoints(path)
    assert cps == []
