"""WTForms' own messages (its validators' defaults) read in the reader's language, request
after request, whichever language came before."""

from __future__ import annotations

from flask import Flask
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired


class _NameForm(FlaskForm):
    class Meta:
        csrf = False

    name = StringField(validators=[DataRequired()])


def _required_message(app: Flask, language: str) -> str:
    with app.test_request_context(
        "/", method="POST", data={}, headers={"Cookie": f"lang={language}"}
    ):
        app.preprocess_request()
        form = _NameForm()
        assert not form.validate()
        return form.name.errors[0]


def test_a_validator_s_default_message_follows_each_request_s_language(app: Flask) -> None:
    messages = [_required_message(app, language) for language in ("fr", "ar", "en", "fr", "es")]
    assert messages[0] == messages[3] == "Ce champ est requis."
    assert messages[2] == "This field is required."
    assert messages[1] not in (messages[0], messages[2]) and any(
        "\u0600" <= letter <= "\u06ff" for letter in messages[1]
    )
    assert messages[4] not in (messages[0], messages[2])


def test_flask_wtf_reads_the_catalogue_kept_for_the_language(app: Flask) -> None:
    """What makes the catalogue parsed once: Flask-WTF takes the one the request already
    holds. Should a later Flask-WTF stop looking there, this says so."""
    from flask_wtf.i18n import _get_translations

    from portal.web.i18n import wtforms_catalogue

    for language in ("fr", "ar"):
        with app.test_request_context("/", headers={"Cookie": f"lang={language}"}):
            app.preprocess_request()
            assert _get_translations() is wtforms_catalogue(language)
