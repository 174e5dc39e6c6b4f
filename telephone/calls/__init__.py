from flask import Blueprint

bp = Blueprint("calls", __name__, url_prefix="/calls")

from . import dial, views, webhook  # noqa: E402,F401
