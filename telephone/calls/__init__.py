from flask import Blueprint

bp = Blueprint("calls", __name__, url_prefix="/calls")

from . import views  # noqa: E402,F401
from . import webhook  # noqa: E402,F401
