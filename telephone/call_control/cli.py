"""`flask routing block|test|list`: the block list and the routing rules from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import block_list, routing
from ..extensions import db

routing_cli = AppGroup("routing", help="Anrufsteuerung: Sperrliste und Regeln.")


@routing_cli.command("block")
@click.argument("number")
@click.option("--reason", default="", help="Grund, z. B. Werbeanrufe.")
def block(number: str, reason: str) -> None:
    """Put NUMBER (or a prefix ending in *) on the block list."""
    try:
        entry = block_list.add(number, reason)
    except block_list.InvalidBlockEntry as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Gesperrt: {entry.pattern}")


@routing_cli.command("test")
@click.argument("number")
@click.option("--to", "to_number", default="", help="Unsere gewählte Rufnummer.")
@click.option("--at", "at_text", default="", help='Zeitpunkt "YYYY-MM-DD HH:MM" (Bürozeit); ohne: jetzt.')
def test(number: str, to_number: str, at_text: str) -> None:
    """Print exactly what the webhook would answer to an IncomingCall from NUMBER (nothing: no rule decides)."""
    try:
        at = routing.parse_office_time(at_text) if at_text.strip() else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    decision = routing.decide(number, to_number, at)
    if decision is not None:
        click.echo(decision.xml.decode("utf-8"))


@routing_cli.command("list")
def list_rules() -> None:
    """The routing rules in the order they are checked."""
    rules = routing.ordered_rules()
    if not rules:
        click.echo("Keine Regeln: Placetel entscheidet.")
    for number, rule in enumerate(rules, start=1):
        state = "" if rule.enabled else " (inaktiv)"
        click.echo(f"{number}. {rule.name}{state}: wenn {routing.describe_conditions(rule)} "
                   f"→ {routing.ACTION_LABELS[rule.action]}{': ' + rule.targets.replace(chr(10), ', ') if rule.targets else ''}")
