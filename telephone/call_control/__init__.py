from flask import Blueprint

bp = Blueprint("call_control", __name__)

from . import views  # noqa: E402,F401
