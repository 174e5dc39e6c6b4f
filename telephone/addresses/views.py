"""Address master (Adressen): list, search, detail, edit, CSV import/export."""
from flask import render_template
from sqlalchemy import select

from ..extensions import db
from ..models import Address
from . import bp


@bp.get("/")
def index():
    addresses = db.session.scalars(select(Address).order_by(Address.name).limit(25)).all()
    return render_template("addresses/index.html", addresses=addresses)


@bp.get("/<int:address_id>")
def detail(address_id: int):
    address = db.get_or_404(Address, address_id)
    return render_template("addresses/detail.html", address=address)
