"""The reporter's forms. Every message is translated and shown next to its field."""

from __future__ import annotations

import functools
import re
from datetime import date
from typing import Any

from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    Field,
    FieldList,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError
from wtforms.widgets import Select, html_params

from portal.domain.categories import (
    CATEGORIES,
    IDENTIFIER_QUESTION_KINDS,
    PLATFORMS,
    Question,
    all_questions,
)
from portal.domain.territories import grouped_choices
from portal.domain.urlnorm import InvalidURL, NormalizedURL, normalize_url
from portal.services.reports import ReportSubmission
from portal.web.citizen.trace_fields import currency_field, identifier_field
from portal.web.pow import ChallengeField, SolutionField, honeypot_field

ABROAD = "ABROAD"

URL_ERRORS = {
    "empty": _l("This line is empty."),
    "too_long": _l("This address is too long."),
    "scheme": _l("Only web addresses starting with http:// or https:// can be reported."),
    "host": _l("This address has no valid site name."),
    "port": _l("This address has an invalid port number."),
    "credentials": _l("Please remove the user name or password from this address."),
    "malformed": _l("This does not look like a web address."),
}

# A plausible address (one @, a dot in the domain, no spaces); the mail server has the last word.
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")

YES_NO = [("yes", _l("Yes")), ("no", _l("No")), ("unknown", _l("I don't know"))]


def territory_choices() -> dict[str, list[tuple[str, str]]]:
    """Grouped options (region -> prefectures/provinces) for a select that works without JS."""
    return _territory_choices(str(get_locale() or "ar"))


@functools.cache
def _territory_choices(lang: str) -> dict[str, list[tuple[str, str]]]:
    # The same for every reporter of a language: built once per process.
    groups: dict[str, list[tuple[str, str]]] = {"": [("", str(_l("Choose where you live")))]}
    for region_name, options in grouped_choices(
        lang,
        abroad_group=str(_l("Outside Morocco")),
        abroad_label=str(_l("I live outside Morocco")),
    ):
        groups[region_name] = list(options)
    return groups


class TerritorySelect(Select):
    """The territory list: the same ~90 options for every reporter, rendered once per language.

    Rendering them one by one through WTForms took about half the time of the report page.
    """

    def __init__(self) -> None:
        super().__init__()
        self._options: dict[str, str] = {}

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for name in dir(flags):
            if name in self.validation_attrs and name not in kwargs:
                kwargs[name] = getattr(flags, name)
        lang = str(get_locale() or "")
        options = self._options.get(lang)
        if options is None:
            parts = []
            for group, choices in field.choices.items():  # type: ignore[union-attr]
                parts.append(f'<optgroup label="{escape(group)}">')
                parts.extend(
                    f'<option value="{escape(value)}">{escape(label)}</option>'
                    for value, label in choices
                )
                parts.append("</optgroup>")
            options = self._options[lang] = "".join(parts)
        if field.data:
            chosen = f'<option value="{escape(field.data)}">'
            options = options.replace(chosen, f'<option selected value="{escape(field.data)}">', 1)
        # Every label and value above went through escape(); html_params escapes its own.
        select = f"<select {html_params(name=field.name, **kwargs)}>{options}</select>"
        return Markup(select)  # noqa: S704


def parse_url_lines(text: str, limit: int) -> tuple[list[NormalizedURL], list[str]]:
    """Normalise one URL per line; return the URLs and a message per bad line."""
    urls: list[NormalizedURL] = []
    errors: list[str] = []
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for number, line in enumerate(lines, start=1):
        try:
            urls.append(normalize_url(line))
        except InvalidURL as error:
            message = URL_ERRORS.get(error.reason, URL_ERRORS["malformed"])
            errors.append(str(_l("Line %(number)s: %(message)s", number=number, message=message)))
    if not lines:
        errors.append(str(_l("Give at least one web address of the content.")))
    elif len(lines) > limit:
        errors.append(str(_l("Give at most %(limit)s web addresses.", limit=limit)))
    return urls, errors


class ReportForm(FlaskForm):
    category = RadioField(
        _l("What is it about?"),
        choices=list(CATEGORIES.items()),
        validators=[InputRequired(_l("Choose what the report is about."))],
    )
    urls = TextAreaField(
        _l("Web addresses of the content"),
        description=_l("One address per line, as copied from the browser or the app (up to 20)."),
        # Web addresses read left to right, even on a right-to-left page.
        render_kw={"dir": "ltr", "spellcheck": "false", "autocapitalize": "off"},
    )
    platform = SelectField(
        _l("Where did you see it?"),
        choices=[("", _l("Choose a platform")), *PLATFORMS.items()],
        validators=[InputRequired(_l("Choose the platform or site."))],
    )
    seen_on = DateField(
        _l("When did you see it? (optional)"),
        validators=[Optional()],
        format="%Y-%m-%d",
    )
    description = TextAreaField(
        _l("What happened?"),
        description=_l("In your own words. You do not need to give your name."),
        validators=[
            DataRequired(_l("Please describe briefly what happened.")),
            Length(max=10_000, message=_l("Please keep the description under 10,000 characters.")),
        ],
        render_kw={"dir": "auto"},
    )
    territory = SelectField(
        _l("Where do you live?"),
        description=_l("Your report goes to the police unit that serves this place."),
        validators=[InputRequired(_l("Choose your prefecture or province."))],
        validate_choice=False,
        widget=TerritorySelect(),
        # Read by portal.js, which splits the grouped list into region, then place.
        render_kw={
            "data-region-label": _l("Region"),
            "data-region-choose": _l("Choose your region"),
        },
    )
    handle_outside_local = BooleanField(
        _l("Please handle my report outside my local area"),
        description=_l("Your report will go to a national unit instead of the local one."),
    )
    evidence = MultipleFileField(
        _l("Screenshots, photos, videos or voice notes (optional)"),
        description=_l("Photos, PDF, videos, sound recordings or plain text."),
    )
    contact_name = StringField(
        _l("Name or nickname"),
        validators=[Optional(), Length(max=120)],
        render_kw={"dir": "auto"},
    )
    contact_phone = StringField(
        _l("Phone number"),
        validators=[Optional(), Length(max=40)],
        render_kw={"dir": "ltr", "inputmode": "tel"},
    )
    contact_email = EmailField(
        _l("E-mail address"), validators=[Optional(), Length(max=200)], render_kw={"dir": "ltr"}
    )
    contact_safe_time = StringField(
        _l("When is it safe to contact you?"),
        validators=[Optional(), Length(max=200)],
        render_kw={"dir": "auto"},
    )
    notify_opt_in = BooleanField(
        _l("Send me an e-mail when there is news about my report"),
        description=_l(
            "The e-mail only says that there is news and that you can come back with your "
            "receipt: never the reference, the category or any message. But anyone who can read "
            "this mailbox will learn that you made a report. Leave this unticked if someone else "
            "may read your e-mails."
        ),
    )
    notify_email = EmailField(
        _l("E-mail address for the notice"),
        # No Optional(): it would stop the check that an opted-in reporter gave an address.
        validators=[Length(max=200)],
        render_kw={"dir": "ltr", "autocomplete": "email", "inputmode": "email"},
    )
    # Files kept from an earlier try of this form (portal.services.evidence.hold).
    pending_upload = HiddenField()
    good_faith = BooleanField(
        _l("I declare in good faith that this report is true to the best of my knowledge."),
        validators=[DataRequired(_l("Please confirm that you are reporting in good faith."))],
    )
    # Bot friction (portal.web.pow): a honeypot people leave empty and the proof-of-work fields.
    website = honeypot_field()
    pow_challenge = ChallengeField()
    pow_solution = SolutionField()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.territory.choices = territory_choices()  # type: ignore[assignment]
        self.parsed_urls: list[NormalizedURL] = []

    def validate_urls(self, field: Field) -> None:
        urls, errors = parse_url_lines(field.data or "", 20)
        self.parsed_urls = urls
        if errors:
            raise ValidationError(" ".join(errors))

    def validate_territory(self, field: Field) -> None:
        valid = {value for options in self.territory.choices.values() for value, _ in options}  # type: ignore[union-attr]
        if not field.data or field.data not in valid:
            raise ValidationError(str(_l("Choose your prefecture or province.")))

    def validate_notify_email(self, field: Field) -> None:
        if not self.notify_opt_in.data:
            return
        value = (field.data or "").strip()
        if not value:
            raise ValidationError(
                str(_l("Give the e-mail address for the notice, or untick the box."))
            )
        if not _EMAIL.fullmatch(value):
            raise ValidationError(str(_l("This does not look like an e-mail address.")))

    def validate_seen_on(self, field: Field) -> None:
        if field.data and field.data > date.today():
            raise ValidationError(str(_l("This date is in the future.")))

    def answers(self) -> dict[str, str]:
        """Answers to the questions of the chosen category only."""
        from portal.domain.categories import QUESTIONS

        result: dict[str, str] = {}
        for question in QUESTIONS.get(self.category.data or "", ()):
            value = getattr(self, f"q_{question.name}").data
            if value in (None, "", "unknown") and question.kind == "yesno":
                continue
            if value in (None, ""):
                continue
            result[question.name] = str(value)
        return result

    def submission(self, language: str | None = None) -> ReportSubmission:
        """What the reporter sent, in the terms of the report service (after validation)."""
        territory = self.territory.data
        return ReportSubmission(
            category=self.category.data,
            platform=self.platform.data,
            description=self.description.data.strip(),
            urls=self.parsed_urls,
            subdivision_code=None if territory == ABROAD else territory,
            handle_outside_local=bool(self.handle_outside_local.data),
            seen_on=self.seen_on.data,
            answers=self.answers(),
            contact=self.contact(),
            language=language,
            notify_email=(self.notify_email.data or "").strip() or None
            if self.notify_opt_in.data
            else None,
        )

    def contact(self) -> dict[str, str] | None:
        values = {
            "name": self.contact_name.data or "",
            "phone": self.contact_phone.data or "",
            "email": self.contact_email.data or "",
            "safe_time": self.contact_safe_time.data or "",
        }
        values = {key: value.strip() for key, value in values.items() if value and value.strip()}
        return values or None


def _question_field(question: Question) -> Field:
    kind, label = question.kind, question.label
    if kind in IDENTIFIER_QUESTION_KINDS:
        return identifier_field(kind, label, question.hint)
    if kind == "currency":
        return currency_field(label)
    if kind == "yesno":
        return RadioField(label, choices=YES_NO, validators=[Optional()])
    if kind == "amount":
        return DecimalField(
            label,
            places=2,
            validators=[Optional()],
        )
    if kind == "date":
        return DateField(label, validators=[Optional()], format="%Y-%m-%d")
    return StringField(label, validators=[Optional(), Length(max=300)], render_kw={"dir": "auto"})


for _question in all_questions().values():
    setattr(ReportForm, f"q_{_question.name}", _question_field(_question))


class ReceiptForm(FlaskForm):
    receipt = StringField(
        _l("Your receipt"),
        description=_l("The 16 digits you were given when you sent your report."),
        validators=[DataRequired(_l("Enter the 16 digits of your receipt."))],
        render_kw={"dir": "ltr", "inputmode": "numeric", "autocomplete": "off"},
    )
    # Needed only while many wrong receipts are tried (portal.web.ratelimit); solved meanwhile.
    pow_challenge = ChallengeField()
    pow_solution = SolutionField()
    # A message typed when the follow-up session had ended: kept in the page, never stored.
    draft = TextAreaField(
        _l("Your message, not sent yet"),
        validators=[Optional(), Length(max=5000)],
        render_kw={"dir": "auto"},
    )
    # Names of files chosen when the session had ended, to remind the reporter to choose them.
    file_names = FieldList(HiddenField(), max_entries=20)


class ReplyForm(FlaskForm):
    body = TextAreaField(
        _l("Your message"),
        render_kw={"dir": "auto"},
        validators=[
            DataRequired(_l("Write a message before sending.")),
            Length(max=5000, message=_l("Please keep the message under 5,000 characters.")),
        ],
    )
