"""`flask placetel push-contacts` and `flask phonebook directory-token`."""
from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext

from .. import device_access, placetel_contacts

placetel_cli = AppGroup("placetel", help="Placetel: das Telefonbuch in Placetels Kontakte übertragen.")


@placetel_cli.command("push-contacts")
@click.option("--dry-run", is_flag=True, help="Nur anzeigen, was übertragen würde.")
def push_contacts(dry_run: bool) -> None:
    """Push the company phonebook to Placetel's contacts; prints what was created, changed and deleted."""
    if dry_run:
        plan = placetel_contacts.plan_push()
        click.echo(f"Vorschau: {plan.summary()}.")
        return
    try:
        run = placetel_contacts.push_contacts("cli")
    except placetel_contacts.PushRefused as exc:
        raise click.ClickException(str(exc)) from None
    summary = placetel_contacts.run_summary(run)
    if run.status != "success":
        raise click.ClickException(f"Übertragung fehlgeschlagen nach {summary}: {run.error}")
    click.echo(f"Übertragen: {summary}.")


@click.command("directory-token")
@with_appcontext
def directory_token() -> None:
    """Print the token of the desk-phone directories and the caller-name lookup (created if missing)."""
    click.echo(device_access.current_token())
