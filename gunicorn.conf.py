"""Production server settings for a checkout: ``gunicorn -c gunicorn.conf.py``.

The settings live in the package (``portal/web/gunicorn_conf.py``) so that an installed portal
has them too: ``gunicorn -c python:portal.web.gunicorn_conf``.
"""

from portal.web.gunicorn_conf import *  # noqa: F403
