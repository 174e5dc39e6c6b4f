"""Company phonebook (Firmentelefonbuch) and its sources."""
from flask import render_template

from ..extensions import db
from ..models import PhonebookEntry
from . import bp


@bp.get("/<int:entry_id>")
def detail(entry_id: int):
    entry = db.get_or_404(PhonebookEntry, entry_id)
    return render_template("phonebook/detail.html", entry=entry)
