"""A user's day, in Chromium: log in at the SSO, run and save a notebook in JupyterLab, keep
saving after the access token has been replaced several times; other users see nothing of it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from tests.conftest import storage_for, stored_containing
from tests.e2e.conftest import TOKEN_TTL, Stack
from tests.harness.browser import (
    chromium,
    open_new_notebook,
    run_cell,
    save,
    screenshot_on_failure,
    sso_login,
)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def test_einstein_works_all_day(stack: Stack, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    try:
        await sso_login(page, stack.hub.url, "einstein", "relativity")
        await open_new_notebook(page, "einstein")

        await run_cell(page, "print(6 * 7)", "42")
        await save(page)
        nb = json.loads(await stored_containing(stack.reva, "einstein", "/home/Untitled.ipynb", "6 * 7"))
        outputs = [o.get("text", "") for c in nb["cells"] for o in c.get("outputs", [])]
        assert any("42" in "".join(t) for t in outputs)
        first_token = stack.remember_token_file("einstein")

        # Work on past two access-token lifetimes: the token is replaced behind the scenes.
        await asyncio.sleep(2 * TOKEN_TTL + 5)
        await run_cell(page, "print('still saving')", "still saving")
        await save(page)
        await stored_containing(stack.reva, "einstein", "/home/Untitled.ipynb", "still saving")
        assert stack.remember_token_file("einstein") != first_token
    except BaseException:
        await screenshot_on_failure(page, "einstein")
        raise
    finally:
        await context.close()


async def test_marie_sees_none_of_einsteins_files(stack: Stack, browser: Browser) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    try:
        await sso_login(page, stack.hub.url, "marie", "radioactivity")
        await page.wait_for_url("**/user/marie/lab**", timeout=90_000)
        await page.locator(".jp-DirListing-content").wait_for(timeout=60_000)
        names = await page.locator(".jp-DirListing-itemName").all_inner_texts()
        assert "Untitled.ipynb" not in names
        storage = storage_for(stack.reva, "marie")
        try:
            assert "/home/Untitled.ipynb" not in {i.path for i in await storage.list("/home")}
        finally:
            await storage.close()
        stack.remember_token_file("marie")
    except BaseException:
        await screenshot_on_failure(page, "marie")
        raise
    finally:
        await context.close()


async def test_wrong_password_gets_no_server(stack: Stack, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    try:
        await sso_login(page, stack.hub.url, "richard", "not-superfluidity")
        await page.get_by_text("Invalid username or password").wait_for(timeout=30_000)
        assert "/user/richard" not in page.url
        async with stack.admin() as admin:
            res = await admin.get("/users/richard")
        assert res.status_code == 404
        assert not stack.hub.user_dir("richard").exists()
    except BaseException:
        await screenshot_on_failure(page, "richard-wrong-password")
        raise
    finally:
        await context.close()


async def test_logs_hold_no_token(stack: Stack) -> None:
    await stack.assert_no_token_in_logs(
        {"einstein": "test_einstein_works_all_day", "marie": "test_marie_sees_none_of_einsteins_files"}
    )
