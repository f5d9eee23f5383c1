"""Forms of takedown requests and cross-border referrals. Choices are filled by the views."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, SelectMultipleField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.services.referrals import MAX_NOTE
from portal.services.takedowns import MAX_EXPLANATION, MAX_PRESERVATION_DAYS

REQUEST_KINDS = {
    "removal": _l("Removal of the content"),
    "preservation": _l("Preservation of the content and its data"),
}
OUTCOME_LABELS = {
    "removed": _l("Removed"),
    "refused": _l("Refused by the platform"),
    "no_answer": _l("No answer"),
}
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "ar": "العربية"}


class CheckboxListField(SelectMultipleField):
    """Several choices shown as checkboxes (works without JavaScript)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TakedownForm(FlaskForm):
    kind = RadioField(
        _l("What to ask"),
        choices=list(REQUEST_KINDS.items()),
        default="removal",
        validators=[InputRequired(message=_l("Choose removal or preservation."))],
    )
    urls = CheckboxListField(
        _l("Addresses (one platform per request)"),
        coerce=int,
        validators=[InputRequired(message=_l("Choose at least one URL."))],
    )
    legal_basis = SelectField(
        _l("Legal basis"),
        validators=[InputRequired(message=_l("Choose the legal basis of the request."))],
    )
    explanation = TextAreaField(
        _l("Why the content is illegal"),
        description=_l(
            "Written for the platform: what the content is and which provision it breaks. "
            "Never the victim's name or contact."
        ),
        validators=[
            InputRequired(message=_l("Explain why the content is illegal.")),
            Length(max=MAX_EXPLANATION),
        ],
    )
    preservation_days = IntegerField(
        _l("Preservation period (days)"),
        description=_l("Only for a preservation request."),
        validators=[Optional(), NumberRange(min=1, max=MAX_PRESERVATION_DAYS)],
    )
    language = SelectField(
        _l("Language of the request"),
        description=_l("The platform's channel may accept only some languages."),
        choices=list(LANGUAGE_NAMES.items()),
    )


class SendForm(FlaskForm):
    how = RadioField(
        _l("How the request leaves"),
        choices=[
            ("email", _l("E-mail it to the platform's channel now")),
            ("by_hand", _l("I filed it through the platform's own portal")),
        ],
        validators=[InputRequired(message=_l("Choose how the request was sent."))],
    )


class AcknowledgedForm(FlaskForm):
    pass


class OutcomeForm(FlaskForm):
    items = CheckboxListField(
        _l("Addresses"),
        coerce=int,
        validators=[InputRequired(message=_l("Choose at least one URL of this request."))],
    )
    outcome = SelectField(
        _l("What became of them"),
        choices=list(OUTCOME_LABELS.items()),
        validators=[InputRequired()],
    )


class ReferralForm(FlaskForm):
    destination = SelectField(
        _l("Country the referral goes to"),
        validators=[InputRequired(message=_l("Choose the country the referral goes to."))],
    )
    urls = CheckboxListField(_l("Addresses to include"), coerce=int)
    evidence = CheckboxListField(
        _l("File hashes to include (the files themselves are never sent)"), coerce=int
    )
    language = SelectField(_l("Language of the summary"), choices=list(LANGUAGE_NAMES.items()))
    note = TextAreaField(
        _l("Note for the receiving authority (optional)"),
        description=_l("Not included in referrals of child sexual exploitation."),
        validators=[Length(max=MAX_NOTE)],
    )
