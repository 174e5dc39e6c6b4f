"""`flask users …`: create users from the command line."""
from __future__ import annotations

import re

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..extensions import db
from ..models import User
from .accounts import UserExists, create_user, one_time_password

users_cli = AppGroup("users", help="Benutzer verwalten.")

USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


@users_cli.command("create")
@click.argument("name")
@click.option("--password", required=True, help="Passwort (mindestens 8 Zeichen).")
@click.option("--admin", is_flag=True, help="Mit Administratorrechten.")
@click.option("--display-name", default="", help="Anzeigename, z. B. „Anna Schmidt“.")
def create(name: str, password: str, admin: bool, display_name: str) -> None:
    """Create user NAME."""
    if not USERNAME.match(name):
        raise click.ClickException("Benutzernamen bestehen aus Buchstaben, Ziffern und . _ @ - (höchstens 64 Zeichen).")
    if len(password) < 8:
        raise click.ClickException("Das Passwort muss mindestens 8 Zeichen haben.")
    try:
        create_user(name, password, admin=admin, display_name=display_name)
    except UserExists as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Benutzer „{name}“ angelegt{' (Administrator)' if admin else ''}.")


@users_cli.command("bootstrap")
def bootstrap() -> None:
    """Create the first admin `admin` with a one-time password, if there is no user yet."""
    if db.session.scalar(select(func.count(User.id))):
        click.echo("Es gibt bereits Benutzer – nichts zu tun.")
        return
    password = one_time_password()
    create_user("admin", password, admin=True, display_name="Administrator", must_change_password=True)
    db.session.commit()
    click.echo("")
    click.echo("  Erster Administrator angelegt.")
    click.echo("  Benutzername: admin")
    click.echo(f"  Einmal-Passwort: {password}")
    click.echo("  Beim ersten Anmelden wählen Sie ein eigenes Passwort.")
    click.echo("")
