from flask import Blueprint

bp = Blueprint("phonebook", __name__, url_prefix="/phonebook")

from . import views  # noqa: E402,F401
