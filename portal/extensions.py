"""Flask extensions, created unbound and attached in the app factory."""

from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFProtect

from portal.ratelimit import client_key

csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=client_key, headers_enabled=True)
