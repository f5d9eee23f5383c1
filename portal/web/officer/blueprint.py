"""The officer blueprint; its routes live in ``views`` and ``evidence_views``."""

from flask import Blueprint

bp = Blueprint("officer", __name__, url_prefix="/officer")
