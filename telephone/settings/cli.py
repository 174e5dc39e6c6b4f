"""`flask settings set KEY VALUE`: scripted set-up of the admin settings."""
import click
from flask.cli import AppGroup

from .. import placetel, site_settings
from ..extensions import db

settings_cli = AppGroup("settings", help="Einstellungen setzen.")


@settings_cli.command("set")
@click.argument("key")
@click.argument("value")
def set_command(key: str, value: str) -> None:
    """Set KEY to VALUE, with the same checks as the settings page (\\n in VALUE = new line)."""
    try:
        site_settings.set_value(key, value.replace("\\n", "\n"))
    except site_settings.InvalidSetting as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    shown = "gesetzt" if site_settings.spec(key).secret else site_settings.get(key)
    click.echo(f"{key}: {shown}")
    if key == "placetel.shared_secret" and 0 < len(value.strip()) < placetel.MIN_SHARED_SECRET_LENGTH:
        click.echo(f"Warnung: Das Shared Secret ist kürzer als {placetel.MIN_SHARED_SECRET_LENGTH} Zeichen "
                   "und damit leicht zu erraten.", err=True)
