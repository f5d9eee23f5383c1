"""Every reporter page rendered in Arabic shows Arabic only: no English left untranslated.

The visible text of each page (and the attributes people see or hear: title, aria-label,
placeholder, alt) is collected, minus what is not interface text: what the reporter typed
(inputs, textareas), elements marked with another language (the language switcher) or as
running in the other direction (receipts, references, phone numbers), and brand or file-type names.
"""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient

from portal.domain.guidance import TOPICS
from tests.support.web import csrf_token, open_follow_up, submit_and_get_receipt, submit_report

# Proper nouns and technical names that stay in Latin script in Arabic interfaces.
ALLOWED_LATIN = {
    "Facebook", "Instagram", "WhatsApp", "TikTok", "YouTube", "Twitter", "Telegram", "Snapchat",
    "http", "https", "PDF", "JPEG", "PNG", "GIF", "WebP", "HEIC", "MP4", "MOV", "WebM", "3GP",
    "MP3", "M4A", "OGG", "AMR", "WAV", "ZIP", "RAR", "UTF", "RIB", "IBAN", "USDT",
    "Esc", "png", "jpg",
}  # fmt: skip
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
SKIPPED_TAGS = {"script", "style", "template", "textarea", "noscript"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
             "track", "wbr"}  # fmt: skip
SPOKEN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
ARABIC_DESCRIPTION = "يهددني شخص بنشر صوري إن لم أدفع له المال."


class VisibleText(HTMLParser):
    """Interface text of a page, leaving out user data and text marked as not Arabic."""

    def __init__(self, language: str = "ar") -> None:
        super().__init__(convert_charrefs=True)
        self.language = language
        self.direction = "rtl" if language == "ar" else "ltr"
        self.chunks: list[str] = []
        self._stack: list[bool] = []  # True where the element's content is excluded

    def _excluded(self) -> bool:
        return bool(self._stack) and self._stack[-1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        excluded = (
            self._excluded()
            or tag in SKIPPED_TAGS
            or attributes.get("dir", self.direction) != self.direction
            or attributes.get("lang", self.language) != self.language
            or "hidden" in attributes
        )
        if not excluded:
            for name in SPOKEN_ATTRIBUTES:
                if attributes.get(name):
                    self.chunks.append(str(attributes[name]))
            if tag == "input" and attributes.get("type") in {"submit", "button"}:
                self.chunks.append(str(attributes.get("value") or ""))
        if tag not in VOID_TAGS:
            self._stack.append(excluded)

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID_TAGS and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not self._excluded() and data.strip():
            self.chunks.append(data.strip())


def latin_words(html: str, language: str = "ar") -> list[str]:
    parser = VisibleText(language)
    parser.feed(html)
    words = LATIN_WORD.findall(" ".join(parser.chunks))
    return [word for word in words if word not in ALLOWED_LATIN and len(word) > 1]


def test_the_checker_finds_english_and_ignores_user_data() -> None:
    page = (
        '<html lang="ar"><body><h1>بلاغ</h1><p>Send my report</p>'
        '<a lang="fr">Français</a><textarea>typed by the user</textarea>'
        '<span dir="ltr">EB-2026-XYZ</span><button title="Quick exit">خروج</button>'
        "<p>Facebook</p><template><p>inert</p></template></body></html>"
    )
    assert latin_words(page) == ["Send", "my", "report", "Quick", "exit"]


def test_the_checker_reads_every_page_it_is_given(client: FlaskClient) -> None:
    """The same pages in English are full of Latin words: the collector really reads them."""
    client.set_cookie("lang", "en")
    for path, html in _pages(client).items():
        assert len(latin_words(html, "en")) > 10, path


def _pages(client: FlaskClient) -> dict[str, str]:
    pages: dict[str, str] = {}
    for path in ["/", "/report", "/follow-up", "/help", "/help/safety", "/no-such-page"]:
        pages[path] = client.get(path).get_data(as_text=True)
    for topic in TOPICS:
        pages[f"/help/{topic.slug}"] = client.get(f"/help/{topic.slug}").get_data(as_text=True)
    invalid = submit_report(client, urls="not a web address", description="", good_faith=None)
    assert invalid.status_code == 400
    pages["/report (errors)"] = invalid.get_data(as_text=True)
    wrong = client.post(
        "/follow-up",
        data={"csrf_token": csrf_token(client, "/follow-up"), "receipt": "0000 0000 0000 0000"},
    )
    pages["/follow-up (wrong receipt)"] = wrong.get_data(as_text=True)
    _reference, receipt = submit_and_get_receipt(client, description=ARABIC_DESCRIPTION)
    pages["/report/receipt (again)"] = client.get("/report/receipt").get_data(as_text=True)
    response = submit_report(client, description=ARABIC_DESCRIPTION)
    pages["/report/receipt"] = client.get(response.headers["Location"]).get_data(as_text=True)
    assert open_follow_up(client, receipt).status_code == 303
    pages["/follow-up (open)"] = client.get("/follow-up").get_data(as_text=True)
    token = csrf_token(client, "/follow-up")
    kept = client.post(
        "/follow-up/evidence",
        data={
            "csrf_token": token,
            "evidence": [
                (io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(3000)), "لقطة.png"),
                (io.BytesIO(b"MZ" + bytes(600)), "ملف.jpg"),
            ],
        },
        content_type="multipart/form-data",
    )
    pages["/follow-up (one file refused)"] = kept.get_data(as_text=True)
    client.get("/exit")
    pages["/follow-up (session ended)"] = client.post(
        "/follow-up/reply", data={"csrf_token": csrf_token(client, "/follow-up"), "body": "x"}
    ).get_data(as_text=True)
    return pages


@pytest.mark.parametrize("language", ["ar"])
def test_reporter_pages_in_arabic_show_no_latin_interface_text(
    client: FlaskClient, language: str
) -> None:
    client.set_cookie("lang", language)
    offenders = {}
    for path, html in _pages(client).items():
        assert 'lang="ar"' in html and 'dir="rtl"' in html, path
        words = latin_words(html)
        if words:
            offenders[path] = sorted(set(words))
    assert offenders == {}


# Words a Spanish page shares with the English one without being untranslated.
SAME_IN_SPANISH = {
    "No", "Normal", "Total", "Error", "Error:", "Español",
    "English", "Français", "العربية", "PDF", "GB", "MB", "kB", "Instagram",
}  # fmt: skip


def _interface_chunks(html: str, language: str) -> set[str]:
    # Place names are proper nouns written alike in both languages: the options are left out.
    html = re.sub(r"<select.*?</select>", "", html, flags=re.S)
    parser = VisibleText(language)
    parser.feed(html)
    return {chunk for chunk in parser.chunks if LATIN_WORD.search(chunk)}


def test_reporter_pages_in_spanish_show_no_english_interface_text(app) -> None:
    spanish, english = app.test_client(), app.test_client()
    spanish.set_cookie("lang", "es")
    english.set_cookie("lang", "en")
    in_english = _pages(english)
    in_spanish = _pages(spanish)
    assert "Presentar una denuncia" in in_spanish["/"] and "Make a report" in in_english["/"]
    offenders = {}
    for path, html in in_spanish.items():
        assert 'lang="es"' in html and 'dir="ltr"' in html, path
        same = _interface_chunks(html, "es") & _interface_chunks(in_english[path], "en")
        same = {c for c in same if c not in SAME_IN_SPANISH and "://" not in c and len(c) > 2}
        if same:
            offenders[path] = sorted(same)
    assert offenders == {}


def test_reporter_pages_in_french_are_french(client: FlaskClient) -> None:
    client.set_cookie("lang", "fr")
    home = client.get("/").get_data(as_text=True)
    assert 'lang="fr"' in home and 'dir="ltr"' in home
    assert "Faire un signalement" in home
    assert "Make a report" not in home
