"""Shared pieces of the browser tests: Chromium settings, viewports, the live server handle."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy.orm import Session

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
