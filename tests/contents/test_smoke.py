from __future__ import annotations

import nbformat

from cs3_contents_manager import CS3LargeFileManager
from cs3_contents_manager.cs3.storage import CS3Storage


async def test_notebook_round_trip(cm: CS3LargeFileManager, admin: CS3Storage, cs3_root: str) -> None:
    model = await cm.new_untitled(type="notebook")
    assert model["name"] == "Untitled.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')")])
    saved = await cm.save({"type": "notebook", "content": nb}, model["path"])
    assert saved["content"] is None
    got = await cm.get(model["path"])
    assert got["content"]["cells"][0]["source"] == "print('hi')"
    stored = nbformat.reads((await admin.read(f"{cs3_root}/Untitled.ipynb")).decode(), as_version=4)
    assert stored.cells[0].source == "print('hi')"
    listing = await cm.get("")
    assert [e["name"] for e in listing["content"]] == ["Untitled.ipynb"]
    assert await cm.list_checkpoints(model["path"])


async def test_rest_api_lists_and_saves(api) -> None:
    r = await api.put("hello.txt", {"type": "file", "format": "text", "content": "hello"})
    assert r.status_code == 201, r.text
    r = await api.get()
    assert [e["name"] for e in r.json()["content"]] == ["hello.txt"]
    r = await api.client.get(f"/files/{api.folder}/hello.txt")
    assert r.content == b"hello"
