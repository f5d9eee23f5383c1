"""The alerts page's form: on duty, the address alerts go to, their language and kinds."""

from __future__ import annotations

import re
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import Length, ValidationError

from portal.web.i18n import LANGUAGE_NAMES

_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


class AlertSettingsForm(FlaskForm):
    on_duty = BooleanField(
        _l("I am on duty: send me alerts about my units' queues"),
        description=_l("Untick it when you go off duty; nothing is sent to you then."),
    )
    email = StringField(
        _l("Work e-mail address for alerts"),
        description=_l(
            "Alerts say only that something waits in your unit's queue, never what. Leave it "
            "empty to receive alerts only through the police messaging system, if your unit "
            "has one."
        ),
        validators=[Length(max=254)],
        render_kw={
            "autocomplete": "email",
            "inputmode": "email",
            "dir": "ltr",
            "spellcheck": "false",
        },
    )
    language = SelectField(_l("Language of the alerts"), choices=list(LANGUAGE_NAMES))
    urgent = BooleanField(_l("An urgent report arrives"))
    reply = BooleanField(_l("A reporter answers or adds evidence"))
    sla = BooleanField(_l("A first-response deadline is about to pass"))
    digest = BooleanField(_l("A daily summary of counts"))

    KINDS = ("urgent", "reply", "sla", "digest")

    def validate_email(self, field: Any) -> None:
        value = (field.data or "").strip()
        if value and not _EMAIL.fullmatch(value):
            raise ValidationError(str(_l("This does not look like an e-mail address.")))

    def validate_on_duty(self, field: Any) -> None:
        if field.data and not any(getattr(self, kind).data for kind in self.KINDS):
            raise ValidationError(
                str(_l("Choose at least one kind of alert, or untick \u201con duty\u201d."))
            )

    def kinds(self) -> list[str]:
        return [kind for kind in self.KINDS if getattr(self, kind).data]
