"""Phone notes (Telefonnotizen): new (pre-filled from a call or an address), edit by the author."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import phone_notes
from ..extensions import db
from ..models import Address, Call, PhoneNote
from . import bp
from .journal_forms import PhoneNoteForm


@bp.app_template_global("phone_notes_for_address")
def phone_notes_for_address(address_id: int) -> list[PhoneNote]:
    """For templates/calls/_notes_for_address.html on the address page."""
    return phone_notes.notes_for_address(address_id)


def _get_optional(model, value: str | None):
    if not value:
        return None
    if not value.isdigit():
        abort(404)
    return db.get_or_404(model, int(value))


def _after_save(note: PhoneNote):
    flash(_("Telefonnotiz gespeichert."), "success")
    if note.address_id:
        return redirect(url_for("addresses.detail", address_id=note.address_id, _anchor="phone-notes"))
    return redirect(url_for("calls.journal"))


@bp.route("/notes/new", methods=["GET", "POST"], endpoint="note_new")
def note_new():
    """A new note; `?call=<Call.id>` (banner, journal) or `?address=<id>` pre-fill it."""
    source = request.args if request.method == "GET" else request.form
    call = _get_optional(Call, source.get("call"))
    address = _get_optional(Address, source.get("address"))
    targets = phone_notes.targets_for(call, address)
    form = PhoneNoteForm()
    form.target.choices = [(target.key, target.label) for target in targets] + [("", _("ohne Zuordnung"))]
    if request.method == "GET":
        draft = phone_notes.draft_for(call, address)
        form.subject.data, form.number.data, form.target.data = draft.subject, draft.number, draft.target
        form.call.data = str(call.id) if call else ""
        form.address.data = str(address.id) if address else ""
    elif form.validate_on_submit():
        target = next((target for target in targets if target.key == form.target.data), None)
        note = phone_notes.create_note(current_user, form.subject.data, form.text.data, form.number.data,
                                       call, target)
        db.session.commit()
        return _after_save(note)
    return render_template("calls/note_form.html", form=form, call=call, note=None), 422 if form.errors else 200


@bp.route("/notes/<int:note_id>/edit", methods=["GET", "POST"], endpoint="note_edit")
def note_edit(note_id: int):
    """Change a note: only its author may."""
    note = db.get_or_404(PhoneNote, note_id)
    if not phone_notes.can_edit(note, current_user):
        abort(403)
    form = PhoneNoteForm(obj=note if request.method == "GET" else None)
    for name in ("target", "call", "address"):  # where a note is filed stays as created
        delattr(form, name)
    if form.validate_on_submit():
        phone_notes.update_note(note, form.subject.data, form.text.data, form.number.data)
        db.session.commit()
        return _after_save(note)
    return render_template("calls/note_form.html", form=form, call=note.call, note=note), 422 if form.errors else 200
