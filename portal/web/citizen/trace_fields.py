"""Report-form fields for the offender's traces: accounts, phone numbers, payment identifiers.

Each line is checked as it would be linked (``portal.domain.identifiers``); a line that does
not parse gets its own translated message next to the field, and the text stays as typed.
"""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import Field, SelectField, TextAreaField
from wtforms.validators import Length, Optional, ValidationError

from portal.domain.categories import CURRENCIES, QUESTIONS
from portal.domain.identifiers import parse_answer


class IdentifierLinesField(TextAreaField):
    """Free text, one identifier per line, validated only for the chosen category."""

    def __init__(self, label: object, *, identifier_kind: str, **kwargs: Any) -> None:
        super().__init__(label, **kwargs)
        self.identifier_kind = identifier_kind

    def pre_validate(self, form: Any) -> None:
        category = getattr(form, "category", None)
        question = self.name.removeprefix("q_")
        chosen = QUESTIONS.get(getattr(category, "data", None) or "", ())
        if not self.data or all(item.name != question for item in chosen):
            return
        platform = getattr(getattr(form, "platform", None), "data", None)
        _, errors = parse_answer(self.identifier_kind, self.data, platform or None)
        if errors:
            raise ValidationError(
                " ".join(
                    str(_l("Line %(number)s: %(message)s", number=number, message=error.message))
                    for number, error in errors
                )
            )


def identifier_field(kind: str, label: object, hint: object | None) -> Field:
    return IdentifierLinesField(
        label,
        identifier_kind=kind,
        description=hint or "",
        validators=[Optional(), Length(max=2000)],
        render_kw={"rows": 3, "dir": "ltr", "autocomplete": "off", "spellcheck": "false"},
    )


def currency_field(label: object) -> Field:
    return SelectField(label, choices=list(CURRENCIES.items()), default="MAD")
