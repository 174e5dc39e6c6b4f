from flask import Blueprint

bp = Blueprint("phones", __name__)

from . import views  # noqa: E402,F401
