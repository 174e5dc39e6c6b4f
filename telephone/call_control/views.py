"""Anrufsteuerung: routing rules, block list and "Regel testen" (admins); "Nummer sperren" (everyone)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from .. import block_list, messages, routing, site_settings
from ..auth.decorators import admin_required
from ..extensions import db, htmx
from ..models import BlockedNumber, RoutingRule
from ..settings.views import save_with_flash
from . import bp
from .forms import BlockForm, RuleForm, RuleTestForm

RULE_FIELDS = ("name", "enabled", "caller", "tag", "weekdays", "time_from", "time_to", "holidays", "date_from",
               "date_to", "action", "targets", "object_id", "ringtime", "voicemail_after")


@bp.get("/settings/routing")
@admin_required
def index():
    return _render_index()


def _render_index(block_form: BlockForm | None = None, status: int = 200):
    return render_template("call_control/index.html", rules=routing.ordered_rules(), blocked=block_list.entries(),
                           block_form=block_form or BlockForm(), test_form=RuleTestForm(request.args),
                           describe=routing.describe_conditions, action_labels=routing.ACTION_LABELS,
                           holiday_state=site_settings.get("routing.holiday_state"),
                           christmas=site_settings.get("routing.christmas_eve_closed") == "1",
                           states=routing.STATES), status


@bp.route("/settings/routing/rules/new", methods=["GET", "POST"])
@admin_required
def rule_new():
    return _rule_form(routing.new_rule())


@bp.route("/settings/routing/rules/<int:rule_id>", methods=["GET", "POST"])
@admin_required
def rule_edit(rule_id: int):
    return _rule_form(db.session.get(RoutingRule, rule_id) or abort(404))


def _rule_form(rule: RoutingRule):
    form = RuleForm(obj=rule if request.method == "GET" else None)
    if request.method == "GET":
        form.weekdays.data = list(rule.weekdays or "")
        form.dialled.data = rule.dialled
    if request.method == "POST" and form.validate_on_submit():
        with db.session.no_autoflush:
            for name in RULE_FIELDS:
                value = form[name].data
                if name == "weekdays":
                    value = "".join(sorted(set(value or [])))
                elif isinstance(value, str):
                    value = value.strip()
                setattr(rule, name, value)
            rule.dialled = routing.normalise_dialled(form.dialled.data)
            errors = routing.rule_errors(rule)
        if not errors:
            if rule.id is None:
                db.session.add(rule)
            db.session.commit()
            flash(_("Regel „%(name)s“ gespeichert.", name=rule.name), "success")
            return redirect(url_for("call_control.index"))
        db.session.rollback()
        for name, message in errors.items():
            form[name].errors = [*form[name].errors, messages.localized(message)]
    status = 422 if request.method == "POST" else 200
    return render_template("call_control/rule_form.html", form=form, rule=rule), status


@bp.post("/settings/routing/rules/<int:rule_id>/delete")
@admin_required
def rule_delete(rule_id: int):
    rule = db.session.get(RoutingRule, rule_id) or abort(404)
    db.session.delete(rule)
    db.session.commit()
    flash(_("Regel „%(name)s“ gelöscht.", name=rule.name), "success")
    return redirect(url_for("call_control.index"))


@bp.post("/settings/routing/rules/<int:rule_id>/move")
@admin_required
def rule_move(rule_id: int):
    """Move a rule one place up or down (`direction` up|down)."""
    rules = routing.ordered_rules()
    index = next((i for i, rule in enumerate(rules) if rule.id == rule_id), None)
    if index is None:
        abort(404)
    other = index - 1 if request.form.get("direction") == "up" else index + 1
    if 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
        routing.renumber(rules)
        db.session.commit()
    return redirect(url_for("call_control.index"))


@bp.post("/settings/routing/options")
@admin_required
def save_options():
    save_with_flash({"routing.holiday_state": request.form.get("holiday_state", ""),
                     "routing.christmas_eve_closed": "1" if request.form.get("christmas") else "0"})
    return redirect(url_for("call_control.index"))


@bp.get("/settings/routing/test")
@admin_required
def rule_test():
    """Which rule decides a call from `number` to `to` at `at`, and the exact XML (changes nothing)."""
    form = RuleTestForm(request.args)
    error, decision = None, None
    try:
        at = routing.parse_office_time(form.at.data) if (form.at.data or "").strip() else None
        decision = routing.decide(form.number.data or "", form.to.data or "", at)
    except ValueError as exc:
        error = messages.reason(exc)
    return render_template("call_control/_test_result.html", decision=decision, error=error,
                           tested=bool(request.args))


@bp.post("/settings/routing/blocked")
@admin_required
def block_add():
    form = BlockForm()
    if form.validate_on_submit():
        try:
            entry = block_list.add(form.number.data, form.reason.data, current_user)
        except block_list.InvalidBlockEntry as exc:
            form.number.errors = [*form.number.errors, messages.reason(exc)]
        else:
            db.session.commit()
            flash(_("%(number)s steht jetzt auf der Sperrliste.", number=entry.pattern), "success")
            return redirect(url_for("call_control.index"))
    return _render_index(block_form=form, status=422)


@bp.post("/settings/routing/blocked/<int:entry_id>/delete")
@admin_required
def block_delete(entry_id: int):
    entry = db.session.get(BlockedNumber, entry_id) or abort(404)
    db.session.delete(entry)
    db.session.commit()
    flash(_("%(number)s ist nicht mehr gesperrt.", number=entry.pattern), "success")
    return redirect(url_for("call_control.index"))


@bp.post("/calls/block")
def block_caller():
    """"Nummer sperren" from a banner or a journal row: every user may block a caller."""
    number = request.form.get("number", "")
    try:
        entry = block_list.add(number, request.form.get("reason", "") or _("gesperrt aus der Anrufliste"),
                               current_user)
    except block_list.InvalidBlockEntry as exc:
        return render_template("call_control/_blocked.html", error=messages.reason(exc)), 422
    db.session.commit()
    if htmx:
        return render_template("call_control/_blocked.html", entry=entry)
    flash(_("%(number)s steht jetzt auf der Sperrliste.", number=entry.pattern), "success")
    return redirect(url_for("calls.journal"))
