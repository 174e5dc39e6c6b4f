"""Scheduled phonebook syncs: APScheduler inside the app process.

Each enabled source with an interval gets one job (daily/weekly at a time of
day in the office's time zone, or hourly). The scheduler does not start in
tests, when SCHEDULER_ENABLED is off, in the Werkzeug reloader's watcher
process, or for Flask CLI commands other than `run`. Several processes may run
a scheduler: the sync's database lock lets only one of them sync a source.
"""
from __future__ import annotations

import logging
import os
import sys

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask, current_app
from sqlalchemy import select

from ..extensions import db, scheduler
from ..models import SyncSource

log = logging.getLogger(__name__)

JOB_PREFIX = "phonebook-sync-"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Options of `flask` that take a value, to find the command name in argv
_FLASK_VALUE_OPTIONS = {"--app", "-A", "--env-file", "-e"}

_app: Flask | None = None


def flask_command(argv: list[str]) -> str | None:
    """The Flask CLI command in argv (`flask --app app run` → "run"), None when not the flask CLI."""
    args = iter(argv[1:])
    for arg in args:
        if arg in _FLASK_VALUE_OPTIONS:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def serves_requests(app: Flask) -> bool:
    """Whether this process serves the app (gunicorn, `flask run`), not tests or another CLI command."""
    if app.testing:
        return False
    if os.environ.get("FLASK_RUN_FROM_CLI") == "true":
        if flask_command(sys.argv) != "run":
            return False
        # With the reloader, the parent process only watches files; the child (WERKZEUG_RUN_MAIN) serves.
        if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
            return False
    return True


def should_start(app: Flask) -> bool:
    """Whether this process runs the scheduler (see the module docstring)."""
    return app.config.get("SCHEDULER_ENABLED", True) and serves_requests(app)


def reap_dead_runs(app: Flask) -> None:
    """At start-up of a serving process: runs whose process died are marked failed ("Abgebrochen")."""
    from .engine import reap_dead_runs as reap

    if not serves_requests(app):
        return
    with app.app_context():
        try:
            reap()
        except Exception:  # e.g. the schema is not created yet (before `flask db upgrade`)
            log.exception("phonebook sync: dead runs could not be checked")
            db.session.rollback()
        finally:
            db.session.remove()


def init_app(app: Flask) -> bool:
    """Start the scheduler with one job per enabled source, where this process should run it.

    Returns whether this process runs the scheduler, so other jobs can join it. Every
    serving process first marks the runs of dead processes as failed.
    """
    reap_dead_runs(app)
    if not should_start(app) or scheduler.running:
        return False
    global _app
    _app = app
    scheduler.configure(timezone=app.config["BABEL_DEFAULT_TIMEZONE"])
    scheduler.start(paused=False)
    try:
        with app.app_context():
            reload_jobs()
    except Exception:  # e.g. the schema is not created yet (before `flask db upgrade`)
        log.exception("phonebook schedule: jobs could not be loaded")
    log.info("phonebook schedule started")
    return True


def trigger_for(source: SyncSource, timezone: str):
    """The APScheduler trigger of a source's interval, or None for "off"."""
    if source.interval == "hourly":
        return IntervalTrigger(hours=1, timezone=timezone)
    hour, _, minute = (source.run_at or "03:00").partition(":")
    if source.interval == "daily":
        return CronTrigger(hour=int(hour), minute=int(minute or 0), timezone=timezone)
    if source.interval == "weekly":
        return CronTrigger(day_of_week=WEEKDAYS[source.weekday % 7], hour=int(hour), minute=int(minute or 0),
                           timezone=timezone)
    return None


def reload_jobs(target: BaseScheduler | None = None, app: Flask | None = None) -> None:
    """Replace the sync jobs by one per enabled source (call after sources change)."""
    target = target or scheduler
    if target is scheduler and not scheduler.running:
        return
    app = app or _app or current_app._get_current_object()
    timezone = app.config["BABEL_DEFAULT_TIMEZONE"]
    for job in target.get_jobs():
        if job.id.startswith(JOB_PREFIX):
            job.remove()
    for source in db.session.scalars(select(SyncSource).where(SyncSource.enabled)).all():
        trigger = trigger_for(source, timezone)
        if trigger is not None:
            target.add_job(run_scheduled_sync, trigger, args=[app, source.id], id=f"{JOB_PREFIX}{source.id}",
                           name=f"Telefonbuch-Sync {source.name}", replace_existing=True,
                           coalesce=True, max_instances=1, misfire_grace_time=3600)


def run_scheduled_sync(app: Flask, source_id: int) -> None:
    """The job: sync one source with trigger "schedule"; a run in another process is skipped."""
    from .engine import run_in_app

    run_in_app(app, source_id, "schedule")
