"""What to do now: short, calm advice per kind of harm, shown before and beside the report form.

Each topic names the report categories it covers so that the home page can link a category to
its advice. Wording is trauma-informed: it says what helps, never blames, and keeps the reporter
in control.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l

POLICE_NUMBER = "19"
GENDARMERIE_NUMBER = "177"


@dataclass(frozen=True)
class Topic:
    slug: str
    title: object
    summary: object
    reassurance: object
    do_now: tuple[object, ...]
    avoid: tuple[object, ...]
    categories: tuple[str, ...]


TOPICS: tuple[Topic, ...] = (
    Topic(
        slug="sextortion",
        title=_l("Someone is blackmailing you with intimate images"),
        summary=_l("Threats to publish intimate photos or videos unless you pay or send more."),
        reassurance=_l(
            "This is not your fault. The person blackmailing you is committing a crime, "
            "and the police handle these reports discreetly."
        ),
        do_now=(
            _l("Do not pay and do not send anything more. Paying rarely stops the demands."),
            _l("Stop replying, but do not delete the conversation."),
            _l(
                "Keep the messages, screenshots of the conversation and of the profile, and any "
                "payment details that were asked for."
            ),
            _l("Copy the web address of the account and of any published content."),
            _l("After saving what you need, report and block the account on the platform."),
        ),
        avoid=(_l("Do not threaten or insult the blackmailer: keep your distance."),),
        categories=("sextortion",),
    ),
    Topic(
        slug="fraud",
        title=_l("You were scammed online"),
        summary=_l("Fake sales, fake jobs or loans, phishing messages, stolen payments."),
        reassurance=_l("Scammers are skilled at deceiving people. Reporting quickly helps."),
        do_now=(
            _l(
                "Call your bank at once to block your card or contest the transfer; the number "
                "is on the back of your card."
            ),
            _l(
                "Keep every payment reference: transfer receipt, transaction number, date and "
                "amount."
            ),
            _l("Keep the advert, the messages and the scammer's phone numbers or accounts."),
            _l("If you gave a password or a code, change it now from a device you trust."),
        ),
        avoid=(_l("Do not pay again to 'recover' your money: this is a common second scam."),),
        categories=("fraud",),
    ),
    Topic(
        slug="child-exploitation",
        title=_l("Sexual content involving a child"),
        summary=_l("Images, videos or messages that sexually exploit someone under 18."),
        reassurance=_l(
            "Thank you for acting. You can report without giving your name; these reports are "
            "handled first."
        ),
        do_now=(
            _l("Copy only the web address of the page, profile or group."),
            _l("If a child is in danger right now, call the police on 19."),
            _l(
                "If the child is yours or close to you, listen calmly and tell them it is not "
                "their fault."
            ),
        ),
        avoid=(
            _l(
                "Do not download, screenshot, keep or share the images, not even as proof: doing "
                "so harms the child again and is itself an offence."
            ),
            _l("Do not contact the person who posted them."),
        ),
        categories=("child_sexual_exploitation",),
    ),
    Topic(
        slug="threats",
        title=_l("You are threatened or harassed"),
        summary=_l("Threats of violence or death, repeated insults, stalking, intimidation."),
        reassurance=_l("You do not have to face this alone. What you feel is a normal reaction."),
        do_now=(
            _l("If you are in immediate danger, call the police on 19 or the gendarmerie on 177."),
            _l("Keep the messages with their dates, and screenshots of the profiles."),
            _l("Once saved, block the accounts and tighten your privacy settings."),
            _l("Tell someone you trust what is happening."),
        ),
        avoid=(_l("Do not answer the threats: it can make things worse."),),
        categories=("threats", "harassment"),
    ),
    Topic(
        slug="hate",
        title=_l("Hate, violence or terrorist content"),
        summary=_l(
            "Calls to hatred or violence against people, or content praising terrorist acts."
        ),
        reassurance=_l("Reporting this content helps protect others."),
        do_now=(
            _l("Copy the web address of the post, video or group."),
            _l("Note the date and the platform where you saw it."),
        ),
        avoid=(
            _l("Do not share, like or comment on the content, even to condemn it: it spreads."),
        ),
        categories=("hate_incitement", "terrorism"),
    ),
    Topic(
        slug="data-theft",
        title=_l("Your account was hacked or your data stolen"),
        summary=_l("A hacked account, stolen personal data, or private information published."),
        reassurance=_l("It can happen to anyone. You can take back control step by step."),
        do_now=(
            _l("From a device you trust, change your passwords, starting with your e-mail."),
            _l("Turn on two-step verification for your accounts."),
            _l("Warn your contacts that messages from your account may be fake."),
            _l("Keep the security alerts and messages you received from the platform."),
        ),
        avoid=(_l("Do not pay anyone who offers to 'recover' your account."),),
        categories=("data_theft_hacking", "defamation_privacy"),
    ),
)

TOPICS_BY_SLUG = {topic.slug: topic for topic in TOPICS}
