"""Phone notes (Telefonnotizen): new (pre-filled from a call or an address), edit by the author."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import phone_notes
from ..extensions import db
from ..models import Address, Call, PhonebookEntry, PhoneNote
from . import bp
from .journal_forms import PhoneNoteForm


@bp.app_template_global("phone_notes_for_address")
def phone_notes_for_address(address_id: int) -> list[PhoneNote]:
    """For templates/calls/_notes_for_address.html on the address page."""
    return phone_notes.notes_for_address(address_id)


@bp.app_template_global("phone_notes_for_phonebook_entry")
def phone_notes_for_phonebook_entry(entry_id: int) -> list[PhoneNote]:
    """For templates/calls/_notes_for_phonebook_entry.html on a phonebook entry's page."""
    return phone_notes.notes_for_phonebook_entry(entry_id)


@bp.app_template_filter("note_excerpt")
def note_excerpt(text: str) -> str:
    """The first two lines (at most 140 characters) of a note's text."""
    return phone_notes.excerpt(text)


def _get_optional(model, value: str | None):
    if not value:
        return None
    record_id = phone_notes.parse_id(value)
    if record_id is None:
        abort(404)
    return db.get_or_404(model, record_id)


def _started_from(values) -> tuple[Call | None, Address | None, PhonebookEntry | None]:
    """The call, address or phonebook entry a new note was started from (`?call=`, `?address=`, `?phonebook=`)."""
    return (_get_optional(Call, values.get("call")), _get_optional(Address, values.get("address")),
            _get_optional(PhonebookEntry, values.get("phonebook")))


def _after_save(note: PhoneNote):
    flash(_("Telefonnotiz gespeichert."), "success")
    if note.address_id:
        return redirect(url_for("addresses.detail", address_id=note.address_id, _anchor="phone-notes"))
    if note.phonebook_entry_id:
        return redirect(url_for("phonebook.detail", entry_id=note.phonebook_entry_id, _anchor="phone-notes"))
    return redirect(url_for("calls.journal"))


@bp.route("/notes/new", methods=["GET", "POST"], endpoint="note_new")
def note_new():
    """A new note; `?call=<Call.id>` (banner, journal) or `?address=<id>` pre-fill it.

    It is filed under one of the call's matched contacts, or under any address,
    contact person or phonebook entry picked with the search field.
    """
    source = request.args if request.method == "GET" else request.form
    call, address, entry = _started_from(source)
    targets = phone_notes.targets_for(call, address, entry)
    form = PhoneNoteForm()
    if request.method == "GET":
        draft = phone_notes.draft_for(call, address, entry)
        form.subject.data, form.number.data, form.target.data = draft.subject, draft.number, draft.target
        form.call.data = str(call.id) if call else ""
        form.address.data = str(address.id) if address else ""
        form.phonebook.data = str(entry.id) if entry else ""
    picked = phone_notes.target_for_key(form.target.data) if form.target.data else None
    if picked is not None and all(target.key != picked.key for target in targets):
        targets.append(picked)  # picked with the search field: shown and kept like the candidates
    form.target.choices = [(target.key, target.label) for target in targets] + [("", _("ohne Zuordnung"))]
    if request.method == "POST":
        valid = form.validate_on_submit()
        if form.target.data and picked is None:
            form.target.errors = [_("Diese Zuordnung gibt es nicht (mehr). Bitte neu suchen und auswählen.")]
            valid = False
        if valid:
            note = phone_notes.create_note(current_user, form.subject.data, form.text.data, form.number.data,
                                           call, picked)
            db.session.commit()
            return _after_save(note)
    return render_template("calls/note_form.html", form=form, call=call, note=None), 422 if form.errors else 200


@bp.get("/notes/targets", endpoint="note_targets")
def note_targets():
    """The note form's search-as-you-type: addresses, contact persons and phonebook entries to pick."""
    offered = {target.key for target in phone_notes.targets_for(*_started_from(request.args))}
    query = request.args.get("target_q", "")
    picked = phone_notes.target_for_key(request.args.get("target"))
    found = phone_notes.search_targets(query, exclude=offered)
    if picked is not None and picked.key not in offered:  # keep what was picked while searching on
        found = [picked] + [target for target in found if target.key != picked.key]
    return render_template("calls/_note_targets.html", targets=found, query=query.strip(),
                           picked=picked.key if picked else "")


@bp.route("/notes/<int:note_id>/edit", methods=["GET", "POST"], endpoint="note_edit")
def note_edit(note_id: int):
    """Change a note: only its author may."""
    note = db.get_or_404(PhoneNote, note_id)
    if not phone_notes.can_edit(note, current_user):
        abort(403)
    form = PhoneNoteForm(obj=note if request.method == "GET" else None)
    for name in ("target", "call", "address", "phonebook"):  # where a note is filed stays as created
        delattr(form, name)
    if form.validate_on_submit():
        phone_notes.update_note(note, form.subject.data, form.text.data, form.number.data)
        db.session.commit()
        return _after_save(note)
    return render_template("calls/note_form.html", form=form, call=note.call, note=note), 422 if form.errors else 200
