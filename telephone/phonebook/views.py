"""Company phonebook (Firmentelefonbuch) and its sources (Schnittstellen)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from .. import messages, paging, site_settings
from ..auth.decorators import admin_required
from ..extensions import db, htmx
from ..models import PhonebookEntry, SyncRun, SyncSource
from ..sync import engine
from ..sync.base import REGISTRY, SourceError
from . import bp, entries, sources
from .forms import EntryForm, LimitsForm, UploadForm, source_form

# --------------------------------------------------------------------------- phonebook


@bp.get("/")
def index():
    query = request.args.get("q", "").strip()
    page = paging.requested_page(entries.search_statement(query), entries.LIST_ORDER)
    template = "phonebook/_list.html" if htmx and htmx.target == "phonebook-list" else "phonebook/index.html"
    return render_template(template, page=page, q=query)


@bp.get("/<int:entry_id>")
def detail(entry_id: int):
    entry = db.get_or_404(PhonebookEntry, entry_id)
    return render_template("phonebook/detail.html", entry=entry)


def _render_entry_form(form: EntryForm, entry: PhonebookEntry | None, copy_of: PhonebookEntry | None = None):
    return render_template("phonebook/form.html", form=form, entry=entry, copy_of=copy_of), \
        422 if form.errors else 200


@bp.route("/new", methods=["GET", "POST"])
def new():
    copy_of = None
    if request.method == "GET" and request.args.get("copy", type=int):
        copy_of = db.get_or_404(PhonebookEntry, request.args.get("copy", type=int))
        form = EntryForm(data=entries.form_values(copy_of))
    else:
        form = EntryForm()
    if form.validate_on_submit():
        entry = entries.save_manual(None, form.data_for_save())
        db.session.commit()
        flash(_("Eintrag „%(name)s“ angelegt.", name=entry.display_name), "success")
        return redirect(url_for("phonebook.detail", entry_id=entry.id))
    return _render_entry_form(form, None, copy_of)


def _manual_or_403(entry_id: int) -> PhonebookEntry:
    entry = db.get_or_404(PhonebookEntry, entry_id)
    if entry.source_id is not None:
        abort(403)
    return entry


@bp.route("/<int:entry_id>/edit", methods=["GET", "POST"])
def edit(entry_id: int):
    entry = _manual_or_403(entry_id)
    form = EntryForm(data=entries.form_values(entry)) if request.method == "GET" else EntryForm()
    if form.validate_on_submit():
        entries.save_manual(entry, form.data_for_save())
        db.session.commit()
        flash(_("Eintrag „%(name)s“ gespeichert.", name=entry.display_name), "success")
        return redirect(url_for("phonebook.detail", entry_id=entry.id))
    return _render_entry_form(form, entry)


@bp.post("/<int:entry_id>/delete")
def delete(entry_id: int):
    entry = _manual_or_403(entry_id)
    name = entry.display_name
    entries.delete_manual(entry)
    db.session.commit()
    flash(_("Eintrag „%(name)s“ gelöscht.", name=name), "success")
    return redirect(url_for("phonebook.index"))


# --------------------------------------------------------------------------- sources (admin)


def _limits_form(formdata=None) -> LimitsForm:
    if formdata is not None:
        return LimitsForm(formdata=formdata)
    return LimitsForm(data={name: site_settings.get_int(key) for name, key in LimitsForm.SETTINGS.items()})


def _render_sources(limits: LimitsForm | None = None, status: int = 200):
    rows = sources.overview()
    template = "phonebook/_sources_table.html" if htmx and htmx.target == "sources-table" else "phonebook/sources.html"
    return render_template(template, rows=rows, limits=limits or _limits_form(),
                           polling=any(row.running for row in rows)), status


@bp.get("/sources")
@admin_required
def source_list():
    return _render_sources()


@bp.post("/sources/limits")
@admin_required
def source_limits():
    form = _limits_form(request.form)
    if not form.validate():
        return _render_sources(form, 422)
    for name, key in LimitsForm.SETTINGS.items():
        site_settings.set_value(key, str(form[name].data))
    db.session.commit()
    flash(_("Die Grenzen wurden gespeichert."), "success")
    return redirect(url_for("phonebook.source_list"))


def _source_form(source: SyncSource | None, type_name: str, formdata=None):
    cls = REGISTRY.get(type_name) or abort(404)
    secrets = {spec.name for spec in cls.fields if spec.kind == "password" and sources.is_secret_set(source, spec)}
    form = source_form(cls, sources.source_types(), secrets, formdata=formdata)
    if formdata is None:
        form.type.data = type_name
        if source is None:
            form.name.data = str(cls.label)
        else:
            for name in ("name", "description", "interval", "run_at", "weekday", "enabled"):
                getattr(form, name).data = getattr(source, name)
        for spec in cls.fields:
            if spec.kind != "password" and source is not None:
                getattr(form, "opt_" + spec.name).data = sources.stored_value(source, spec)
    return form, secrets


def _render_source_form(form, source: SyncSource | None, secrets: set[str], status: int = 200):
    return render_template("phonebook/source_form.html", form=form, source=source, secrets=secrets), status


def _save_source(source: SyncSource, form) -> None:
    source.type = form.type.data
    source.name = (form.name.data or "").strip() or str(form.source_cls.label)
    source.description = (form.description.data or "").strip()
    source.interval = form.interval.data
    source.run_at = form.run_at.data
    source.weekday = form.weekday.data
    source.enabled = form.enabled.data
    sources.store_fields(source, form.source_cls, form.type_values(), form.cleared())


@bp.route("/sources/new", methods=["GET", "POST"])
@admin_required
def source_new():
    type_name = request.values.get("type") or (sources.source_types() or [("csv", "")])[0][0]
    if request.method == "GET" or request.form.get("switch"):
        form, secrets = _source_form(None, type_name)
        if request.form.get("switch"):  # type changed: keep what was typed in the common fields
            for name in ("name", "description"):
                getattr(form, name).data = request.form.get(name, "")
            if form.name.data in {str(cls.label) for cls in REGISTRY.values()} or not form.name.data:
                form.name.data = str(form.source_cls.label)
        return _render_source_form(form, None, secrets)
    form, secrets = _source_form(None, type_name, request.form)
    if not form.validate():
        return _render_source_form(form, None, secrets, 422)
    source = SyncSource(type=type_name, options={})
    _save_source(source, form)
    db.session.add(source)
    db.session.commit()
    sources.sources_changed()
    flash(_("Schnittstelle „%(name)s“ angelegt.", name=source.name), "success")
    return redirect(url_for("phonebook.source_detail", source_id=source.id))


@bp.route("/sources/<int:source_id>/edit", methods=["GET", "POST"])
@admin_required
def source_edit(source_id: int):
    source = db.get_or_404(SyncSource, source_id)
    if request.method == "GET":
        form, secrets = _source_form(source, source.type)
        return _render_source_form(form, source, secrets)
    form, secrets = _source_form(source, source.type, request.form)
    form.type.data = source.type  # the type of an existing source does not change
    if not form.validate():
        return _render_source_form(form, source, secrets, 422)
    _save_source(source, form)
    db.session.commit()
    sources.sources_changed()
    flash(_("Schnittstelle „%(name)s“ gespeichert.", name=source.name), "success")
    return redirect(url_for("phonebook.source_list"))


@bp.post("/sources/<int:source_id>/delete")
@admin_required
def source_delete(source_id: int):
    source = db.get_or_404(SyncSource, source_id)
    if engine.is_running(source.id):
        flash(_("Synchronisation läuft bereits – bitte warten, bis sie beendet ist."), "error")
        return redirect(url_for("phonebook.source_list"))
    name = source.name
    count = sources.delete_source(source)
    db.session.commit()
    sources.sources_changed()
    flash(ngettext("Schnittstelle „%(name)s“ und ihr %(num)d Eintrag gelöscht.",
                   "Schnittstelle „%(name)s“ und ihre %(num)d Einträge gelöscht.", count, name=name), "success")
    return redirect(url_for("phonebook.source_list"))


def _render_source_detail(source: SyncSource, outcome: engine.SyncOutcome | None = None, status: int = 200,
                          upload: UploadForm | None = None, shown_run: SyncRun | None = None, notice: str = ""):
    """The source page: its result section shows a preview (`outcome`), a finished run (`shown_run`) or `notice`."""
    runs = db.session.scalars(db.select(SyncRun).where(SyncRun.source_id == source.id)
                              .order_by(SyncRun.id.desc()).limit(30)).all()
    cls = REGISTRY.get(source.type)
    return render_template("phonebook/source.html", source=source, source_cls=cls, runs=runs, outcome=outcome,
                           shown_run=shown_run, notice=notice, upload=upload or UploadForm(),
                           running=engine.is_running(source.id),
                           mass_delete=sources.pending_mass_delete(source),
                           entry_count=db.session.scalar(db.select(db.func.count(PhonebookEntry.id))
                                                         .where(PhonebookEntry.source_id == source.id))), status


@bp.get("/sources/<int:source_id>")
@admin_required
def source_detail(source_id: int):
    source = db.get_or_404(SyncSource, source_id)
    run_id = request.args.get("run", type=int)
    shown_run = db.session.get(SyncRun, run_id) if run_id else None
    if shown_run is not None and shown_run.source_id != source.id:
        shown_run = None
    return _render_source_detail(source, shown_run=shown_run)


def _local_path(target: str | None) -> str | None:
    """`target` when it is a path on this site (no scheme, no host), else None."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


@bp.post("/sources/<int:source_id>/sync")
@admin_required
def source_sync(source_id: int):
    """The play button: start the sync in the background and return at once."""
    source = db.get_or_404(SyncSource, source_id)
    if engine.is_running(source.id):
        flash(_("Synchronisation läuft bereits."), "warning")
    else:
        engine.start_background_sync(source.id, "manual", allow_empty=bool(request.form.get("allow_empty")))
        flash(_("Synchronisation von „%(name)s“ gestartet.", name=source.name), "success")
    return redirect(_local_path(request.form.get("next")) or url_for("phonebook.source_list"))


@bp.post("/sources/<int:source_id>/run")
@admin_required
def source_run(source_id: int):
    """Preview (dry run) or sync now, from the source itself or an uploaded file.

    A preview changes nothing and is shown at once (htmx swaps its result in). A
    sync ends in a redirect to the source page showing the run (post/redirect/get),
    so reloading the page never syncs again.
    """
    source = db.get_or_404(SyncSource, source_id)
    form = UploadForm()
    preview = request.form.get("action") == "preview"
    upload = form.file.data.read() if form.file.data else None
    try:
        outcome = engine.sync_source(source.id, "upload" if upload is not None else "manual",
                                     allow_empty=form.allow_empty.data, dry_run=preview, upload=upload,
                                     allow_mass_delete=form.allow_mass_delete.data and not preview)
    except engine.SyncRefused:
        if preview:
            return _render_source_detail(source, upload=form, notice=_("Synchronisation läuft bereits."))
        flash(_("Synchronisation läuft bereits."), "warning")
        return redirect(url_for("phonebook.source_detail", source_id=source.id))
    if preview:
        return _render_source_detail(source, outcome, 200 if outcome.ok else 422, upload=form)
    if outcome.ok:
        flash(_("Synchronisation erfolgreich: %(summary)s", summary=messages.localized(outcome.summary())), "success")
    else:
        flash(_("Synchronisation fehlgeschlagen – nichts wurde geändert."), "error")
    return redirect(url_for("phonebook.source_detail", source_id=source.id, run=outcome.run_id, _anchor="sync-result"))


@bp.post("/sources/<int:source_id>/test")
@admin_required
def source_test(source_id: int):
    """Check URL and credentials by reading the source once, without changing anything."""
    source = db.get_or_404(SyncSource, source_id)
    try:
        flash(messages.localized(engine.build_source(source).test_connection()), "success")
    except SourceError as exc:
        flash(_("Verbindung fehlgeschlagen: %(reason)s", reason=exc.localized()), "error")
    return redirect(url_for("phonebook.source_detail", source_id=source.id))
