"""Flask extensions, created unbound and attached in the app factory.

The rate limiter lives with the limits it enforces, in ``portal.web.ratelimit``.
"""

from __future__ import annotations

from flask_babel import Babel
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
babel = Babel()
