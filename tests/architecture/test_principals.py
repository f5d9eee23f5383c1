"""Views get their principal from a decorator, SecureDrop style, and never look it up again.

``@staff_required(role...)`` passes ``staff``; ``@reporter_required`` passes ``report``. A view
that called ``current_officer()`` itself could forget the role check the decorator makes.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from flask import Flask

WEB = Path(__file__).resolve().parents[2] / "portal" / "web"
# Sign-in and sign-out look at the session precisely because nobody may be signed in yet.
MAY_ASK = {"login_page", "logout", "_staff_context"}


def _callers_of(name: str) -> list[str]:
    found = []
    for path in sorted(WEB.rglob("*views.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Call)
                    and name in (getattr(inner.func, "id", None), getattr(inner.func, "attr", None))
                    and node.name not in MAY_ASK
                ):
                    found.append(f"{path.relative_to(WEB)}:{node.name}")
    return found


def test_no_view_looks_up_the_signed_in_staff_member_itself() -> None:
    assert _callers_of("current_officer") == []


def test_no_view_looks_up_the_follow_up_report_itself() -> None:
    # Only portal.web.citizen.followup_session reads it (the decorator and the follow-up page).
    assert _callers_of("report_for_followup") == []


def test_every_staff_page_is_behind_the_decorator(app: Flask) -> None:
    unguarded = []
    for rule in app.url_map.iter_rules():
        # The staff blueprint holds the sign-in pages, open by nature.
        if not rule.endpoint.startswith(("officer.", "supervisor.", "admin.")):
            continue
        client = app.test_client()
        path = re.sub(r"<int:\w+>", "1", rule.rule.replace("<ref>", "EB-X"))
        path = re.sub(r"<\w+>", "x", path)
        method = "GET" if "GET" in (rule.methods or set()) else "POST"
        response = client.open(path, method=method)
        # Signed out: the sign-in page (a POST may also be refused by CSRF first).
        to_login = response.status_code == 303 and "/officer/login" in response.location
        if not to_login and not (method == "POST" and response.status_code == 400):
            unguarded.append((rule.rule, response.status_code))
    assert unguarded == []
