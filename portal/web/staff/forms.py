"""Staff sign-in forms: user name and password, the second-factor code, sign-out."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length, Regexp


class LoginForm(FlaskForm):
    username = StringField(
        _l("User name"),
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), Length(max=256)],
        render_kw={"autocomplete": "current-password"},
    )


class CodeForm(FlaskForm):
    code = StringField(
        _l("6-digit code from your authenticator app"),
        validators=[
            DataRequired(),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message=_l("Enter the 6 digits.")),
        ],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "numeric",
            "maxlength": "7",
            "dir": "ltr",
        },
    )


class LogoutForm(FlaskForm):
    """Only the CSRF token: signing out is a POST like every other change."""
