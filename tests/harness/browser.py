"""Chromium driven by Playwright, and the steps of a JupyterLab session the browser tests share:
the SSO login form, a new notebook, a cell run, a save."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright
from playwright.async_api import TimeoutError as PlaywrightTimeout

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless (`make test` installs it: tests/setup/prerequisites.sh)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make prerequisites` installs Debian's chromium", pytrace=False)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def screenshot_on_failure(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def sso_login(page: Page, hub_url: str, user: str, password: str) -> None:
    """Start the hub's OAuth login and fill in the identity provider's form."""
    await page.goto(f"{hub_url}/hub/oauth_login")
    await page.fill("input[name=login]", user)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit], input[type=submit]")


async def open_new_notebook(page: Page, user: str) -> None:
    """Once JupyterLab is open: a new notebook from the launcher, its kernel idle."""
    await page.wait_for_url(f"**/user/{user}/lab**", timeout=90_000)
    await page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click(timeout=60_000)
    await page.locator(".jp-NotebookPanel").first.wait_for(timeout=30_000)
    # Run only once the kernel is up: a cell sent while it starts is not executed.
    await page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)


async def run_cell(page: Page, code: str, expected: str) -> None:
    editor = page.locator(".jp-Notebook .jp-Cell .cm-content").last
    await editor.click()
    await page.keyboard.press("Control+a")
    await page.keyboard.type(code)
    await page.keyboard.press("Shift+Enter")
    await page.locator(".jp-OutputArea-output", has_text=expected).first.wait_for(timeout=60_000)


async def save(page: Page) -> None:
    """Ctrl+S; on a first save JupyterLab offers to rename the file: keep the name."""
    await page.keyboard.press("Control+s")
    rename = page.get_by_role("button", name="Rename and Save")
    try:
        await rename.wait_for(timeout=3_000)
    except PlaywrightTimeout:
        return
    await rename.click()
