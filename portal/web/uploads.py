"""The request side of evidence intake: the encrypting request class and what views see of it.

Werkzeug's form parser hands each file part to a ``StagedFile`` (``portal.evidence.intake``),
so nothing in clear reaches a disk; this module binds that intake to Flask's request, decides
per endpoint which report the files belong to, and turns refusals into translated messages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from flask import Flask, current_app, request, session
from flask.wrappers import Request
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from portal.db import get_session
from portal.domain.categories import NO_FILE_CATEGORIES
from portal.evidence import sniff
from portal.evidence.intake import (
    DRAIN_PIECE,
    FIELD_NAME,
    NO_FILES_ALLOWED,
    TOO_LARGE,
    TOO_MANY,
    Intake,
    Limits,
    StagedFile,
)
from portal.services.evidence import pending_reference
from portal.services.reports import new_reference, report_for_followup
from portal.web.citizen.followup_session import FOLLOWUP_KEY, PENDING_KEY
from portal.web.context import blob_store, keyring


class EvidenceRequest(Request):
    """A request whose file parts stream into the encrypted evidence store."""

    evidence_intake: Intake | None = None

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        intake = self.evidence_intake
        if intake is None:
            intake = self.evidence_intake = _new_intake()
        # The multipart parser does not pass the field name; it is read back from FileStorage.
        return intake.open("", filename)  # type: ignore[return-value]

    def _load_form_data(self) -> None:
        try:
            super()._load_form_data()
        except RequestEntityTooLarge:
            if self.evidence_intake is not None:
                self.evidence_intake.cleanup()
            self._drain()
            empty: MultiDict[str, Any] = MultiDict()
            self.__dict__["form"], self.__dict__["files"] = empty, MultiDict()
            raise

    def _drain(self) -> None:
        """Read and discard the rest of the body so the client gets the 413 page."""
        limit = Limits.from_config(current_app.config).drain_limit
        declared = self.content_length
        if declared is None or declared > limit:
            return
        stream = self.stream
        try:
            while stream.read(DRAIN_PIECE):
                pass
        except Exception:
            # A client gone mid-drain needs no answer.
            return


# Endpoints that accept evidence, and how each finds the reference its files are bound to.
def _new_report_reference() -> str:
    # Files already held for this form: new ones join the same (future) report.
    db = get_session()
    return pending_reference(db, session.get(PENDING_KEY)) or new_reference(db)


def _followup_reference() -> str | None:
    report = report_for_followup(get_session(), session.get(FOLLOWUP_KEY))
    if report is None or report.category in NO_FILE_CATEGORIES:
        return None
    return report.reference


UPLOAD_ENDPOINTS: dict[str, Callable[[], str | None]] = {
    "citizen.submit_report": _new_report_reference,
    "citizen.follow_up_evidence": _followup_reference,
}


def _new_intake() -> Intake:

    resolver = UPLOAD_ENDPOINTS.get(request.endpoint or "")
    return Intake(
        Limits.from_config(current_app.config),
        store=blob_store(),
        keyring=keyring(),
        reference_for_request=resolver or (lambda: None),
    )


def init_app(app: Flask) -> None:
    """Install the encrypting upload stream on the app's request class."""
    app.request_class = EvidenceRequest
    app.config.setdefault("EVIDENCE_DRAIN_LIMIT", None)

    @app.teardown_request
    def _discard_unclaimed_uploads(exc: BaseException | None) -> None:
        intake = getattr(request, "evidence_intake", None)
        if intake is not None:
            intake.cleanup()


# --- what the views see ----------------------------------------------------------------------


def _problem_message(staged: StagedFile, limits: Limits) -> str:
    name = staged.display_name
    problem = staged.problem
    if problem == TOO_LARGE:
        return _(
            "“%(name)s” is larger than %(limit)s MB. Send a shorter video or a smaller file.",
            name=name,
            limit=limits.max_file_size // (1024 * 1024),
        )
    if problem == TOO_MANY:
        return _(
            "You can send at most %(limit)s files at once, so “%(name)s” was not accepted.",
            name=name,
            limit=limits.max_files,
        )
    if problem == sniff.EMPTY:
        return _("“%(name)s” is empty (0 bytes). Choose the file again or leave it out.", name=name)
    if problem == sniff.EXECUTABLE:
        return _(
            "“%(name)s” is a program or a script. For everyone's safety, programs are not "
            "accepted.",
            name=name,
        )
    if problem == sniff.ARCHIVE:
        return _(
            "“%(name)s” is a compressed archive (such as ZIP or RAR). Send the photos, videos "
            "or documents themselves.",
            name=name,
        )
    if problem in (sniff.MARKUP, sniff.POLYGLOT):
        return _(
            "“%(name)s” is or contains a web page or web code. Send a screenshot, or give the "
            "web address instead.",
            name=name,
        )
    if problem == sniff.ACTIVE_PDF:
        return _(
            "“%(name)s” is a PDF with active content (scripts or attached files). Print it to a "
            "new PDF or send screenshots instead.",
            name=name,
        )
    if problem == sniff.NOT_TEXT:
        return _(
            "“%(name)s” is not a plain text file. Save it as UTF-8 text, or send a screenshot.",
            name=name,
        )
    return _(
        "“%(name)s” is not a type of file the portal accepts. You can send photos (JPEG, PNG, "
        "GIF, WebP, HEIC), PDF, videos (MP4, MOV, WebM, 3GP), sound (MP3, M4A, OGG, AMR, WAV) "
        "and plain text.",
        name=name,
    )


def no_files_message() -> str:
    return _(
        "For this kind of report, please do not send any file. Do not download, keep or send "
        "such images, even as proof: give only the web addresses, and the police will collect "
        "the content safely. Your files were not kept."
    )


@dataclass
class Upload:
    """The files a request sent in one form field, once the body has been read."""

    intake: Intake | None
    files: list[StagedFile]

    @property
    def reference(self) -> str | None:
        return self.intake.reference if self.intake and self.files else None

    @property
    def accepted(self) -> list[StagedFile]:
        return [staged for staged in self.files if staged.state == "stored"]

    @property
    def over_limit(self) -> bool:
        return any(staged.problem in (TOO_LARGE, TOO_MANY) for staged in self.files)

    def check(self, *, files_allowed: bool = True) -> list[str]:
        """Finish every file and return one translated message per refused file."""
        if not files_allowed and self.files:
            for staged in self.files:
                staged.refuse(NO_FILES_ALLOWED)
            return [no_files_message()]
        messages: list[str] = []
        for staged in self.files:
            staged.finish()
            if staged.problem is not None and staged.problem != NO_FILES_ALLOWED:
                messages.append(_problem_message(staged, staged.intake.limits))
        return messages

    def limit_to(self, room: int) -> list[str]:
        """Refuse accepted files beyond ``room`` (files already held count towards the limit)."""
        messages: list[str] = []
        for staged in self.accepted[max(room, 0) :]:
            staged.refuse(TOO_MANY)
            messages.append(_problem_message(staged, staged.intake.limits))
        return messages

    def discard(self) -> None:
        for staged in self.files:
            staged.refuse("discarded")


def current_upload(field: str = FIELD_NAME) -> Upload:
    """The staged, non-blank files of ``field`` in the current request."""
    intake = getattr(request, "evidence_intake", None)
    files: list[StagedFile] = []
    for storage in request.files.getlist(field):
        staged = storage.stream
        if isinstance(staged, StagedFile) and not staged.is_blank:
            staged.field = field
            files.append(staged)
    # Parts under other field names are never kept.
    if intake is not None:
        for staged in intake.files:
            if staged not in files:
                staged.refuse("unexpected")
    return Upload(intake, files)


def form_status(upload: Upload) -> int:
    return 413 if upload.over_limit else 400
