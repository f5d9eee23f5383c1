"""Report categories, platforms, the questions each category asks, and automatic priority."""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

CATEGORIES: dict[str, object] = {
    "sextortion": _l("Sextortion (blackmail with intimate images)"),
    "fraud": _l("Online fraud or scam"),
    "child_sexual_exploitation": _l("Child sexual exploitation"),
    "terrorism": _l("Terrorism or its apology"),
    "hate_incitement": _l("Incitement to hatred or violence"),
    "threats": _l("Threats"),
    "harassment": _l("Harassment"),
    "defamation_privacy": _l("Defamation or privacy violation"),
    "data_theft_hacking": _l("Personal data theft or hacking"),
    "trafficking": _l("Trafficking of drugs, arms or people"),
    "other": _l("Something else"),
}

PLATFORMS: dict[str, object] = {
    "facebook": "Facebook",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "tiktok": "TikTok",
    "youtube": "YouTube",
    "x": "X (Twitter)",
    "telegram": "Telegram",
    "snapchat": "Snapchat",
    "website": _l("A website"),
    "email_sms": _l("E-mail or SMS"),
    "other": _l("Other"),
}

STATUSES: dict[str, object] = {
    "received": _l("Received"),
    "in_review": _l("In review"),
    "awaiting_reporter": _l("Waiting for your answer"),
    "investigating": _l("Under investigation"),
    "referred": _l("Referred to the prosecutor"),
    "closed": _l("Closed"),
}

# The same statuses in the words officers use among themselves.
STAFF_STATUSES: dict[str, object] = {
    **STATUSES,
    "awaiting_reporter": _l("Awaiting the reporter"),
}

CLOSURE_REASONS: dict[str, object] = {
    "no_offence": _l("No offence found"),
    "duplicate": _l("Duplicate of another report"),
    "outside_jurisdiction": _l("Outside our jurisdiction"),
    "content_removed": _l("Content removed"),
    "insufficient_information": _l("Not enough information"),
}

# The same reasons in the reporter's terms: what happened and why, without police jargon.
CLOSURE_REASONS_FOR_REPORTER: dict[str, object] = {
    "no_offence": _l(
        "The officers examined your report and found nothing that the law allows them to act on."
    ),
    "duplicate": _l(
        "The same content had already been reported: your report was joined to that case, "
        "which goes on."
    ),
    "outside_jurisdiction": _l(
        "This matter is outside what the Moroccan police can act on, for example because the "
        "content and the people involved are abroad."
    ),
    "content_removed": _l("The content you reported has been removed."),
    "insufficient_information": _l(
        "There was not enough information to go further. If you learn more, you can make a new "
        "report with the new details."
    ),
}

PRIORITIES: dict[str, object] = {
    "urgent": _l("Urgent"),
    "high": _l("High"),
    "normal": _l("Normal"),
}

# Categories that are urgent whatever the answers.
URGENT_CATEGORIES = frozenset({"child_sexual_exploitation", "terrorism"})
HIGH_CATEGORIES = frozenset({"sextortion", "threats", "trafficking"})
# Child sexual exploitation: URLs only, never files (IWF, NCMEC and eSafety advice).
NO_FILE_CATEGORIES = frozenset({"child_sexual_exploitation"})


@dataclass(frozen=True)
class Question:
    name: str
    kind: str  # "yesno", "text", "amount", "date", "currency", or an identifier kind below
    label: object
    # A "yes" to this question makes the report urgent.
    urgent_if_yes: bool = False
    # Why the question is asked, shown under it.
    hint: object | None = None


# Questions whose answers are an offender's traces (portal.domain.identifiers), one per line:
# "accounts" are profiles, @names, phones or e-mails; the others are payment identifiers.
IDENTIFIER_QUESTION_KINDS = ("accounts", "bank_account", "wallet", "transfer_code", "payees")
CURRENCIES: dict[str, object] = {
    "MAD": _l("Dirham (MAD)"),
    "EUR": _l("Euro (EUR)"),
    "USD": _l("US dollar (USD)"),
    "USDT": "USDT",
    "BTC": _l("Bitcoin (BTC)"),
}
_TRACE_HINT = _l(
    "Optional. The same account or number often appears in other reports: it helps the police "
    "link them and find who is behind them. Only officers can read it."
)


_MINOR = Question("minor_involved", "yesno", _l("Is the victim under 18?"), urgent_if_yes=True)
_LIFE = Question(
    "threat_to_life", "yesno", _l("Is someone's life or safety threatened?"), urgent_if_yes=True
)

QUESTIONS: dict[str, tuple[Question, ...]] = {
    "sextortion": (
        Question("money_demanded", "yesno", _l("Was money or something else demanded?")),
        Question("paid", "yesno", _l("Has anything already been paid?")),
        Question("content_published", "yesno", _l("Has the content already been published?")),
        _MINOR,
        Question(
            "offender_accounts",
            "accounts",
            _l("The blackmailer's accounts and phone numbers, one per line"),
            hint=_TRACE_HINT,
        ),
        Question(
            "payee",
            "payees",
            _l("Where money was demanded or paid: account (RIB or IBAN), wallet or transfer code"),
            hint=_TRACE_HINT,
        ),
        Question("amount_demanded", "amount", _l("Amount demanded or paid")),
        Question("currency", "currency", _l("Currency")),
    ),
    "fraud": (
        Question("amount", "amount", _l("Amount lost (in dirhams), if any")),
        Question("payment_method", "text", _l("How was it paid (bank transfer, card, cash...)?")),
        Question("payment_reference", "text", _l("Payment or transaction reference")),
        Question("scammer_contact", "text", _l("The scammer's phone number or account")),
        Question(
            "scammer_accounts",
            "accounts",
            _l("The scammer's phone numbers and accounts, one per line"),
            hint=_TRACE_HINT,
        ),
        Question(
            "payee_account",
            "bank_account",
            _l("The account you paid into (RIB or IBAN)"),
            hint=_TRACE_HINT,
        ),
        Question("payee_wallet", "wallet", _l("The crypto wallet you paid to"), hint=_TRACE_HINT),
        Question(
            "transfer_code",
            "transfer_code",
            _l("Money transfer code (Western Union, MoneyGram, Wafacash, Cash Plus...)"),
            hint=_TRACE_HINT,
        ),
    ),
    "threats": (
        _LIFE,
        Question("threat_date", "date", _l("When was the threat made?")),
        _MINOR,
    ),
    "harassment": (_MINOR,),
    "hate_incitement": (_LIFE,),
    "defamation_privacy": (_MINOR,),
    "data_theft_hacking": (
        Question("account_lost", "yesno", _l("Have you lost access to an account?")),
    ),
    "trafficking": (_LIFE, _MINOR),
    "child_sexual_exploitation": (),
    "terrorism": (_LIFE,),
    "other": (_MINOR,),
}


def all_questions() -> dict[str, Question]:
    """Every distinct question, by name (some appear under several categories)."""
    seen: dict[str, Question] = {}
    for questions in QUESTIONS.values():
        for question in questions:
            seen.setdefault(question.name, question)
    return seen


def automatic_priority(category: str, answers: dict[str, object]) -> str:
    """Urgent for child exploitation, terrorism, a minor involved or a threat to life."""
    if category in URGENT_CATEGORIES:
        return "urgent"
    for question in QUESTIONS.get(category, ()):
        if question.urgent_if_yes and answers.get(question.name) == "yes":
            return "urgent"
    if category in HIGH_CATEGORIES:
        return "high"
    return "normal"
