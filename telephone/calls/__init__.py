from flask import Blueprint

bp = Blueprint("calls", __name__, url_prefix="/calls")

from . import dial, journal_views, notes_views, voicemail_views, webhook  # noqa: E402,F401
