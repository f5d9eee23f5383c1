"""The reporter side's blueprint; its routes live in ``views`` and ``guidance_views``."""

from flask import Blueprint

bp = Blueprint("citizen", __name__)
