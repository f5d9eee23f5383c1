"""Printable documents as PDF (requests to platforms, case files) with WeasyPrint.

A document is rendered from its own HTML and the document stylesheet read from disk; nothing
is fetched, so a URL quoted in a document is never loaded by the server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import abort, current_app
from flask_babel import gettext as _


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError("documents are rendered from their own text and stylesheet only")


def render_pdf(html: str) -> bytes:
    """The PDF of ``html``; 503 with a clear message where the system lacks Pango."""
    # Imported when a PDF is asked for: WeasyPrint loads Pango, which pages do not need.
    try:
        from weasyprint import CSS, HTML
    except OSError:
        current_app.logger.error("PDF unavailable: WeasyPrint cannot load Pango")
        abort(503, description=_("PDF files cannot be made on this server (Pango is missing)."))

    stylesheet = Path(current_app.static_folder or "static") / "css" / "document.css"
    return HTML(string=html, url_fetcher=_refuse_fetch).write_pdf(
        stylesheets=[CSS(filename=str(stylesheet), url_fetcher=_refuse_fetch)]
    )
