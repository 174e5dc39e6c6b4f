"""`flask phonebook …`: create phonebook sources and run syncs from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import crypto
from ..extensions import db
from ..models import SyncSource
from ..sync import engine
from ..sync.base import REGISTRY, SourceError
from . import sources

phonebook_cli = AppGroup("phonebook", help="Firmentelefonbuch: Schnittstellen und Synchronisation.")
sources_cli = AppGroup("sources", help="Schnittstellen verwalten.")
phonebook_cli.add_command(sources_cli)


@sources_cli.command("add")
@click.option("--type", "type_name", required=True, help="Typ der Schnittstelle, z. B. csv.")
@click.option("--name", required=True, help="Name in der Übersicht.")
@click.option("--url", default="", help="URL (bei csv: Adresse der CSV-Datei).")
@click.option("--login", default="", help="Login (meist eine E-Mail-Adresse).")
@click.option("--password", default="", help="Passwort (wird verschlüsselt gespeichert).")
def add_source(type_name: str, name: str, url: str, login: str, password: str) -> None:
    """Create a source; prints its id alone on the last line."""
    if type_name not in REGISTRY:
        raise click.ClickException(f"Unbekannter Typ „{type_name}“. Bekannt sind: {', '.join(sorted(REGISTRY))}.")
    if url.strip() and not sources.is_web_address(url):
        raise click.ClickException(f"Ungültige URL „{url}“: Nur Adressen mit http:// oder https:// sind erlaubt.")
    source = SyncSource(type=type_name, name=name.strip() or str(REGISTRY[type_name].label), url=url.strip(),
                        login=login.strip(), password_encrypted=crypto.encrypt(password), options={})
    db.session.add(source)
    db.session.commit()
    sources.sources_changed()
    click.echo(f"Schnittstelle „{source.name}“ angelegt.")
    click.echo(source.id)


@sources_cli.command("list")
def list_sources() -> None:
    """List the sources: id, type, name, enabled."""
    for source in db.session.scalars(select(SyncSource).order_by(SyncSource.id)):
        click.echo(f"{source.id}\t{source.type}\t{source.name}\t{'aktiv' if source.enabled else 'deaktiviert'}")


@phonebook_cli.command("sync")
@click.option("--source", "source_id", type=int, help="Nur diese Schnittstelle (Id); sonst alle aktiven.")
@click.option("--allow-empty", is_flag=True, help="Auch eine leere Quelle übernehmen (löscht deren Einträge).")
@click.option("--allow-mass-delete", is_flag=True,
              help="Auch mehr als den erlaubten Anteil (phonebook.max_delete_share) der Einträge löschen.")
def sync_command(source_id: int | None, allow_empty: bool, allow_mass_delete: bool) -> None:
    """Run phonebook sync(s) now; exit 1 with the reason when one fails."""
    if source_id is None:
        results = engine.sync_all("cli", allow_mass_delete=allow_mass_delete)
        if not results:
            click.echo("Keine aktive Schnittstelle eingerichtet.")
        for _source, _outcome, message in results:
            click.echo(message)
        if any(outcome is None or not outcome.ok for _source, outcome, _message in results):
            raise SystemExit(1)
        return
    if db.session.get(SyncSource, source_id) is None:
        raise click.ClickException(f"Die Schnittstelle {source_id} gibt es nicht.")
    try:
        outcome = engine.sync_source(source_id, "cli", allow_empty=allow_empty, allow_mass_delete=allow_mass_delete)
    except (engine.SyncRefused, SourceError) as exc:
        raise click.ClickException(str(exc)) from None
    if not outcome.ok:
        raise click.ClickException(outcome.summary())
    for problem in outcome.problems:
        click.echo(f"Hinweis: {problem.text}")
    click.echo(outcome.summary())
