"""The ``portal`` command line (the same commands as ``flask --app portal``)."""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup

from portal.cli.audit import audit_group
from portal.cli.case_file import case_file_group
from portal.cli.keys import keys_group
from portal.cli.officers import officers_group
from portal.cli.retention import retention_group
from portal.cli.setup import demo_code_command, demo_command, init_command
from portal.cli.stats import stats_group


def _make_app() -> Flask:
    from portal import create_app

    return create_app()


COMMANDS = [
    init_command,
    demo_command,
    demo_code_command,
    officers_group,
    audit_group,
    stats_group,
    keys_group,
    retention_group,
    case_file_group,
]


def register(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def main() -> None:
    group = FlaskGroup(create_app=_make_app, add_version_option=False, load_dotenv=False)
    group.help = "The citizen reporting portal."
    for command in COMMANDS:
        group.add_command(command)
    group.main(prog_name="portal")
