"""Address master (Adressen): list, search, detail, edit, CSV import/export."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import numbers, paging
from ..i18n import office_today
from ..extensions import db, htmx
from ..models import Address, AddressKind, ContactPerson
from . import book, bp, csv_io
from .forms import AddressForm, ContactForm, ImportConfirmForm, ImportUploadForm

LIST_TARGET = "address-list"
PREVIEW_ROWS = 200  # rows the import preview lists; the counts cover all


def _address_or_404(address_id: int) -> Address:
    return book.load_address(address_id) or abort(404)


def _contact_or_404(address: Address, contact_id: int) -> ContactPerson:
    contact = db.session.get(ContactPerson, contact_id)
    if contact is None or contact.address_id != address.id:
        abort(404)
    return contact


# --------------------------------------------------------------------------- list and detail


@bp.get("/")
def index():
    query = request.args.get("q", "").strip()
    page = paging.requested_page(book.search_query(query), book.LIST_ORDER)
    matched = {address.id: book.matched_contacts(address, query) for address in page.items} if query else {}
    template = "addresses/_list.html" if htmx and htmx.target == LIST_TARGET else "addresses/index.html"
    return render_template(template, page=page, query=query, matched=matched, list_target=LIST_TARGET)


@bp.get("/<int:address_id>")
def detail(address_id: int):
    address = _address_or_404(address_id)
    return render_template("addresses/detail.html", address=address)


# --------------------------------------------------------------------------- addresses


def _render_address_form(form: AddressForm, address: Address | None, status: int = 200):
    return render_template("addresses/form.html", form=form, address=address), status


def _validate_address(form: AddressForm, address: Address | None) -> bool:
    """The form's own checks plus the ones that need the database (Kundennummer taken)."""
    valid = form.validate()
    owner = book.customer_number_owner(form.customer_number.data or "", address.id if address else None)
    if owner is not None:
        form.customer_number.errors = [*form.customer_number.errors,
                                       _("Diese Kundennummer hat schon „%(name)s“.", name=owner.name)]
        valid = False
    return valid


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = AddressForm()
    if request.method == "GET":
        form.country.data = numbers.default_region()
        form.phone.data = request.args.get("phone", "").strip()
        return _render_address_form(form, None)
    if not _validate_address(form, None):
        return _render_address_form(form, None, 422)
    address = book.save_address(None, form.data)
    flash(_("Die Adresse „%(name)s“ wurde angelegt.", name=address.name), "success")
    return redirect(url_for("addresses.detail", address_id=address.id))


@bp.route("/<int:address_id>/edit", methods=["GET", "POST"])
def edit(address_id: int):
    address = _address_or_404(address_id)
    if request.method == "GET":
        return _render_address_form(AddressForm(obj=address), address)
    form = AddressForm()
    valid = _validate_address(form, address)
    if form.kind.data != AddressKind.COMPANY.value and address.contacts:
        form.kind.errors = [*form.kind.errors, _("Eine Adresse mit Ansprechpartnern bleibt eine Firma. "
                                                 "Bitte löschen Sie zuerst die Ansprechpartner.")]
        valid = False
    if not valid:
        return _render_address_form(form, address, 422)
    book.save_address(address, form.data)
    flash(_("Die Adresse wurde gespeichert."), "success")
    return redirect(url_for("addresses.detail", address_id=address.id))


@bp.post("/<int:address_id>/delete")
def delete(address_id: int):
    address = _address_or_404(address_id)
    name = address.name
    book.delete_address(address)
    flash(_("Die Adresse „%(name)s“ wurde gelöscht.", name=name), "success")
    return redirect(url_for("addresses.index"))


# --------------------------------------------------------------------------- contact persons


def _contact_form(address: Address, contact: ContactPerson | None = None) -> ContactForm:
    """The contact form, reading numbers in the company's country."""
    form = ContactForm(obj=contact) if request.method == "GET" else ContactForm()
    form.region = book.number_region(address.country, numbers.default_region())
    return form


def _render_contact_form(form: ContactForm, address: Address, contact: ContactPerson | None, status: int = 200):
    return render_template("addresses/contact_form.html", form=form, address=address, contact=contact), status


def _company_or_404(address_id: int) -> Address:
    address = _address_or_404(address_id)
    if not address.is_company:
        abort(404)
    return address


@bp.route("/<int:address_id>/contacts/new", methods=["GET", "POST"])
def contact_new(address_id: int):
    address = _company_or_404(address_id)
    form = _contact_form(address)
    if request.method == "GET":
        return _render_contact_form(form, address, None)
    if not form.validate():
        return _render_contact_form(form, address, None, 422)
    contact = book.save_contact(address, None, form.data)
    flash(_("Der Ansprechpartner „%(name)s“ wurde angelegt.", name=contact.name), "success")
    return redirect(url_for("addresses.detail", address_id=address.id, _anchor=f"contact-{contact.id}"))


@bp.route("/<int:address_id>/contacts/<int:contact_id>/edit", methods=["GET", "POST"])
def contact_edit(address_id: int, contact_id: int):
    address = _address_or_404(address_id)
    contact = _contact_or_404(address, contact_id)
    form = _contact_form(address, contact)
    if request.method == "GET":
        return _render_contact_form(form, address, contact)
    if not form.validate():
        return _render_contact_form(form, address, contact, 422)
    book.save_contact(address, contact, form.data)
    flash(_("Der Ansprechpartner wurde gespeichert."), "success")
    return redirect(url_for("addresses.detail", address_id=address.id, _anchor=f"contact-{contact.id}"))


@bp.post("/<int:address_id>/contacts/<int:contact_id>/delete")
def contact_delete(address_id: int, contact_id: int):
    address = _address_or_404(address_id)
    contact = _contact_or_404(address, contact_id)
    name = contact.name
    book.delete_contact(contact)
    flash(_("Der Ansprechpartner „%(name)s“ wurde gelöscht.", name=name), "success")
    return redirect(url_for("addresses.detail", address_id=address.id))


# --------------------------------------------------------------------------- CSV


@bp.get("/export.csv")
def export():
    filename = f"adressen-{office_today().isoformat()}.csv"
    return Response(csv_io.export_csv(), mimetype="text/csv",  # Flask adds "; charset=utf-8"
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/import/vorlage.csv")
def import_template():
    return Response(csv_io.template_csv(), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="adressen-vorlage.csv"'})


def _render_upload(form: ImportUploadForm, error: str | None = None, status: int = 200):
    return render_template("addresses/import.html", form=form, error=error, columns=csv_io.COLUMNS,
                           default_region=numbers.default_region()), status


def _render_preview(preview: csv_io.ImportPreview, token: str, form: ImportConfirmForm | None = None,
                    status: int = 200, error: str | None = None):
    return render_template("addresses/import_preview.html", preview=preview, token=token,
                           form=form or ImportConfirmForm(formdata=None), preview_limit=PREVIEW_ROWS,
                           error=error), status


@bp.route("/import", methods=["GET", "POST"])
def import_upload():
    form = ImportUploadForm()
    if request.method == "GET":
        return _render_upload(form)
    if not form.validate():
        return _render_upload(form, status=422)
    upload = request.files.get("file")
    content = upload.read() if upload else b""
    if not content:
        return _render_upload(form, _("Bitte wählen Sie eine CSV-Datei aus."), 422)
    try:
        preview = csv_io.read_import(content)
    except csv_io.ImportFileError as exc:
        return _render_upload(form, str(exc), 422)
    token = csv_io.store_upload(current_user.id, content)
    return _render_preview(preview, token)


@bp.post("/import/<token>")
def import_confirm(token: str):
    form = ImportConfirmForm()
    if not form.validate():
        abort(400)
    content = csv_io.load_upload(current_user.id, token)
    if content is None:
        flash(_("Die hochgeladene Datei ist nicht mehr vorhanden. Bitte laden Sie sie erneut hoch."), "error")
        return redirect(url_for("addresses.import_upload"))
    try:
        preview = csv_io.read_import(content)
    except csv_io.ImportFileError as exc:  # only if reading rules changed since the upload
        csv_io.discard_upload(current_user.id, token)
        return _render_upload(ImportUploadForm(), str(exc), 422)
    if preview.faulty and not form.skip_faulty.data:
        form.skip_faulty.errors = [_("Die Datei enthält fehlerhafte Zeilen. Bitte korrigieren Sie die Datei "
                                     "oder wählen Sie „Fehlerhafte Zeilen überspringen“.")]
        return _render_preview(preview, token, form, 422)
    try:
        result = csv_io.apply_import(preview, skip_faulty=form.skip_faulty.data,
                                     update_existing=form.update_existing.data)
    except csv_io.ImportFailed as exc:
        return _render_preview(preview, token, form, 422, error=str(exc))
    csv_io.discard_upload(current_user.id, token)
    flash(_("Import abgeschlossen: %(created)d neu angelegt, %(updated)d aktualisiert, %(unchanged)d unverändert.",
            created=result.created, updated=result.updated, unchanged=result.unchanged), "success")
    return redirect(url_for("addresses.index"))


@bp.context_processor
def address_helpers() -> dict:
    """What the address templates use to show numbers with their labels."""
    return {"shown_numbers": book.shown_numbers,
            "number_labels": {"phone": _("Telefon"), "mobile": _("Mobil"), "fax": _("Fax")}}
