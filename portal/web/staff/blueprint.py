"""The staff area shared by officers, supervisors and admins: sign-in, code, enrolment, sign-out.

Its URLs stay under ``/officer`` (``/officer/login`` is the one sign-in page for every role).
"""

from flask import Blueprint

bp = Blueprint("staff", __name__, url_prefix="/officer")
