"""Admin forms: staff accounts and the routing table."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from portal.services.accounts import ROLES

ROLE_CHOICES = [
    ("officer", _l("Officer")),
    ("supervisor", _l("Supervisor")),
    ("admin", _l("Administrator")),
]
assert [code for code, _ in ROLE_CHOICES] == list(ROLES)
ROLE_LABELS = dict(ROLE_CHOICES)


class AccountForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, validators=[DataRequired()])
    units = SelectMultipleField(_l("Units (officers)"), coerce=int, validators=[Optional()])
    region = SelectField(_l("Region (supervisors; empty means national)"), validators=[Optional()])


class CreateAccountForm(AccountForm):
    username = StringField(
        _l("User name"),
        validators=[
            DataRequired(),
            Length(min=3, max=64),
            Regexp(r"^[a-z0-9._-]+$", message=_l("Lower-case letters, digits, . _ - only.")),
        ],
        render_kw={"autocomplete": "off", "dir": "ltr"},
    )
    display_name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    password = PasswordField(
        _l("Initial password (at least 12 characters)"),
        validators=[DataRequired(), Length(min=12, max=256)],
        render_kw={"autocomplete": "new-password"},
    )


class ActionForm(FlaskForm):
    """A button (deactivate, revoke sessions, reset second factor): CSRF only."""
