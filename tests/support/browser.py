"""Shared pieces of the browser tests: Chromium settings, viewports, the live server handle."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
from flask import Flask
from sqlalchemy import update
from sqlalchemy.orm import Session

from portal.models import Officer
from portal.services.demo import DEMO_ACCOUNTS

CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"


def browser_required() -> bool:
    return os.environ.get("PORTAL_REQUIRE_BROWSER", "").strip().lower() in {"1", "true", "yes"}


@dataclass
class LiveServer:
    app: Flask
    url: str
    instance_path: Path

    def session(self) -> Session:
        """A database session on the live server's database, for arranging and checking."""
        return self.app.extensions["db_sessionmaker"]()


def save_screenshot(page: Any, name: str) -> Path:
    """Full-page PNG under artifacts/screenshots/ (kept by CI, ignored by git)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


NewContext = Callable[..., Any]


def resize(page: Any, viewport: dict[str, int]) -> None:
    """Give a loaded page another viewport, once its resize handlers have run (the resize event
    comes before the next animation frame). The style sheets' media queries apply as on a load
    at that width; only a script that reads the width once, on load, sees a difference."""
    page.set_viewport_size(viewport)
    page.wait_for_function(f"window.innerWidth === {viewport['width']}")
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => setTimeout(done)))")


DEMO = {account.username: account for account in DEMO_ACCOUNTS}


def sign_in_demo_staff(page: Any, live_server: LiveServer, username: str) -> None:
    """Sign a demo staff account in through the real sign-in pages (password, then TOTP)."""
    account = DEMO[username]
    # Other browser tests may have used this step's code already: codes are single-use.
    with live_server.session() as session:
        session.execute(
            update(Officer).where(Officer.username == username).values(totp_last_counter=None)
        )
        session.commit()
    page.goto("/officer/login")
    page.fill("input[name=username]", account.username)
    page.fill("input[name=password]", account.password)
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("input[name=code]")
    page.fill("input[name=code]", pyotp.TOTP(account.totp_secret).now())
    page.locator("main form button[type=submit]").click()
    page.wait_for_selector("table.queue, .queue-filters")
