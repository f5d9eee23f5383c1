"""Officer forms: queue filters and one small form per action."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Field,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    Optional,
    ValidationError,
)
from wtforms.widgets import HiddenInput

from portal.domain.categories import (
    CATEGORIES,
    CLOSURE_REASONS,
    PLATFORMS,
    PRIORITIES,
    STAFF_STATUSES,
)
from portal.services.cases import MAX_TEXT
from portal.services.content_access import MAX_REASON, MIN_REASON
from portal.services.queue import MAX_SEARCH, QueueFilters


def _blank(label: object) -> list[tuple[str, object]]:
    return [("", label)]


class QueueFilterForm(FlaskForm):
    """Read from the query string: a bookmarkable view of the queue (no CSRF on a GET)."""

    class Meta:
        csrf = False

    status = SelectField(
        _l("Status"),
        choices=[
            ("open", _l("Open")),
            ("resolved", _l("Resolved")),
            ("all", _l("All")),
            *STAFF_STATUSES.items(),
        ],
        default="open",
        validators=[Optional()],
    )
    category = SelectField(
        _l("Category"), choices=_blank(_l("Any")) + list(CATEGORIES.items()), default=""
    )
    priority = SelectField(
        _l("Priority"), choices=_blank(_l("Any")) + list(PRIORITIES.items()), default=""
    )
    platform = SelectField(
        _l("Platform"), choices=_blank(_l("Any")) + list(PLATFORMS.items()), default=""
    )
    assigned = SelectField(
        _l("Assigned"),
        choices=[("all", _l("Anyone")), ("me", _l("Me")), ("unassigned", _l("Nobody"))],
        default="all",
    )
    date_from = DateField(_l("Received from"), validators=[Optional()])
    date_to = DateField(_l("Received until"), validators=[Optional()])
    # Kept for bookmarked links (?reference=...); the search box reads references too.
    reference = StringField(
        _l("Reference"), validators=[Optional(), Length(max=40)], render_kw={"dir": "ltr"}
    )
    q = StringField(
        _l("Search"),
        description=_l(
            "A reference, a web address or site, a phone number, an e-mail, an account, "
            "an IBAN/RIB or a wallet"
        ),
        validators=[Optional(), Length(max=MAX_SEARCH)],
        render_kw={"dir": "auto", "type": "search", "autocomplete": "off"},
    )
    sort = SelectField(
        _l("Sort by"),
        choices=[
            ("urgency", _l("Urgency")),
            ("age", _l("Oldest first")),
            ("activity", _l("Last activity")),
        ],
        default="urgency",
        validators=[Optional()],
    )

    def filters(self) -> QueueFilters:
        """The filters asked for, after ``validate()``: a field in error is ignored, not fatal."""

        def value(field: Field, default: Any = None) -> Any:
            return (field.data or default) if not field.errors else default

        return QueueFilters(
            status=value(self.status, "open"),
            category=value(self.category),
            priority=value(self.priority),
            platform=value(self.platform),
            assigned=value(self.assigned, "all"),
            date_from=value(self.date_from),
            date_to=value(self.date_to),
            reference=(self.reference.data or "").strip() or None,
            search=(value(self.q) or "").strip() or None,
            sort=value(self.sort, "urgency"),
        )

    def active(self) -> bool:
        """True when some filter other than the defaults is in use (the filters stay open)."""
        defaults = {"status": "open", "assigned": "all", "sort": "urgency"}
        return any(
            field.data not in (None, "", defaults.get(field.name))
            for field in self
            if field.name not in ("q", "assigned", "sort")
        )


def _int_or_none(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload, no-any-return]
    except (TypeError, ValueError):
        return None


class BulkActionForm(FlaskForm):
    """One action for the reports ticked in the queue (their references come as ``refs``)."""

    action = SelectField(
        _l("Action"),
        choices=[
            ("", _l("Choose an action")),
            ("claim", _l("Claim (assign to me)")),
            ("assign", _l("Assign to a colleague")),
            ("transfer", _l("Transfer to another unit")),
            ("duplicate", _l("Close as duplicate of a report")),
        ],
        default="",
        validators=[DataRequired(message=_l("Choose an action."))],
    )
    assignee = SelectField(_l("Colleague"), coerce=_int_or_none, validators=[Optional()])
    unit = SelectField(_l("Transfer to"), coerce=_int_or_none, validators=[Optional()])
    reason = TextAreaField(
        _l("Why (kept as an internal note)"), validators=[Optional(), Length(max=MAX_TEXT)]
    )
    original = StringField(
        _l("Reference of the original report"),
        validators=[Optional(), Length(max=40)],
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )

    def validate(self, extra_validators: Any = None) -> bool:
        valid = super().validate(extra_validators)
        needed = {
            "assign": (self.assignee, _l("Choose a colleague.")),
            "transfer": (self.unit, _l("Choose a unit.")),
            "duplicate": (self.original, _l("Give the reference of the original report.")),
        }.get(self.action.data or "")
        if needed is not None:
            field, message = needed
            if not field.data or (isinstance(field.data, str) and not field.data.strip()):
                field.errors = [*field.errors, message]
                valid = False
        if self.action.data == "transfer" and not (self.reason.data or "").strip():
            self.reason.errors = [*self.reason.errors, _l("Say why (kept as an internal note).")]
            valid = False
        return valid


class VersionedForm(FlaskForm):
    """Carries the report version the officer saw, so a stale form cannot overwrite."""

    version = IntegerField(widget=HiddenInput(), validators=[InputRequired()])


class ClaimForm(VersionedForm):
    """Only the version the officer saw: a claim needs no other input."""


class AssignForm(VersionedForm):
    assignee = SelectField(_l("Colleague"), coerce=int, validators=[InputRequired()])


class StatusForm(VersionedForm):
    status = SelectField(_l("New status"), validators=[DataRequired()])
    closure_reason = SelectField(
        _l("Reason for closing"),
        choices=_blank(_l("Only when closing")) + list(CLOSURE_REASONS.items()),
        default="",
    )
    # Set by the confirmation panel: closing an urgent case, or one awaiting the reporter's
    # answer, takes a second, explicit POST.
    confirm = BooleanField(widget=HiddenInput(), false_values=("", "0", "false"))

    def validate_closure_reason(self, field: Field) -> None:
        if self.status.data == "closed" and not field.data:
            raise ValidationError(_l("Choose why the report is closed."))


class PriorityForm(VersionedForm):
    priority = SelectField(
        _l("Priority"), choices=list(PRIORITIES.items()), validators=[DataRequired()]
    )


class TransferForm(VersionedForm):
    unit = SelectField(_l("Transfer to"), coerce=int, validators=[InputRequired()])
    reason = TextAreaField(
        _l("Why (kept as an internal note)"),
        validators=[DataRequired(), Length(max=MAX_TEXT)],
    )


class DuplicateForm(VersionedForm):
    reference = StringField(
        _l("Reference of the original report"),
        validators=[DataRequired(), Length(max=40)],
        render_kw={"dir": "ltr"},
    )


class NoteForm(FlaskForm):
    body = TextAreaField(
        _l("Internal note (never shown to the reporter)"),
        validators=[DataRequired(), Length(max=MAX_TEXT)],
    )


class MessageForm(FlaskForm):
    body = TextAreaField(
        _l("Message to the reporter"),
        description=_l("The reporter sees it signed “the officer”, never with your name."),
        validators=[DataRequired(), Length(max=MAX_TEXT)],
    )


class PartnerMessageForm(FlaskForm):
    """On the partner panel: a message to the partner acting for the victim, to her, or both."""

    body = TextAreaField(_l("Message"), validators=[DataRequired(), Length(max=MAX_TEXT)])
    audience = RadioField(
        _l("Send to"),
        choices=[
            ("partner", _l("The partner organisation")),
            ("reporter", _l("The victim (on her follow-up page)")),
            ("both", _l("Both")),
        ],
        default="partner",
        validators=[InputRequired(message=_l("Choose who receives the message."))],
    )


class BreakGlassForm(FlaskForm):
    """A supervisor's reason to open one report's content (recorded in the audit log)."""

    reason = TextAreaField(
        _l("Why you need to read this report's content"),
        description=_l(
            "At least %(num)d characters. Your reason is recorded with every view of the content.",
            num=MIN_REASON,
        ),
        validators=[DataRequired(), Length(max=MAX_REASON)],
    )

    def validate_reason(self, field: Field) -> None:
        if len(" ".join((field.data or "").split())) < MIN_REASON:
            raise ValidationError(
                _l("Give a reason of at least %(num)d characters.", num=MIN_REASON)
            )
