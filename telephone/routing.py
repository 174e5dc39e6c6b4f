"""Call Control: the app decides where an incoming call goes, from what it knows about the caller.

For a number whose routing is set to "External API" in the Placetel portal,
Placetel waits for the answer to the `IncomingCall` webhook. `decide()` answers
from the database alone (no outbound request): a blocked caller is rejected,
otherwise the routing rules are checked top to bottom and the first that
matches decides. No match, or any doubt, means no XML at all, so that
Placetel's own backup routing takes the call.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from xml.etree.ElementTree import Element, SubElement, tostring

import holidays as public_holidays
from sqlalchemy import func, select

from . import block_list, messages, numbers, placetel, site_settings
from .i18n import office_zone
from .extensions import db
from .models import Address, RoutingRule, User

CALLER_CONDITIONS = ("any", "known", "unknown", "anonymous", "managed")
HOLIDAY_CONDITIONS = ("any", "only", "not")
ACTIONS = ("account_manager", "forward", "voicemail", "group", "routing_plan", "prompt", "reject", "hangup")
NEEDS_OBJECT_ID = ("group", "routing_plan", "prompt")
MAX_RINGTIME = 120
# German states for public holidays (the `holidays` package's subdivisions of DE)
STATES = ("BB", "BE", "BW", "BY", "HB", "HE", "HH", "MV", "NI", "NW", "RP", "SH", "SL", "SN", "ST", "TH")
_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


@dataclass
class Decision:
    """What the webhook answers: the XML, and a line for the journal (German, translated when shown)."""

    xml: bytes
    note: messages.Message
    rule: RoutingRule | None = None
    blocked: bool = False


# --------------------------------------------------------------------------- deciding


def decide(from_number: str, to_number: str, at: datetime | None = None,
           lookup: numbers.CallerLookup | None = None) -> Decision | None:
    """The routing of an incoming call, or None to leave it to Placetel's own routing.

    `at` is an aware datetime (default: now); `lookup` the caller lookup of `from_number` when
    the webhook shares it with the journal. Reads the database only.
    """
    caller = numbers.parse(from_number) if from_number and from_number != "anonymous" else None
    caller_e164 = caller.e164 if caller else None
    blocked = block_list.match(caller_e164 or (block_list.caller_key(from_number) if caller else None))
    if blocked is not None:
        return Decision(_response(Element("Reject", reason="busy")), messages.gettext("gesperrt"), blocked=True)
    rules = db.session.scalars(select(RoutingRule).where(RoutingRule.enabled)
                               .order_by(RoutingRule.position, RoutingRule.id)).all()
    if not rules:
        return None
    local = (at or datetime.now(timezone.utc)).astimezone(office_zone())
    context = _CallerContext(from_number, caller_e164, numbers.to_e164(to_number) if to_number else None,
                             lookup or numbers.CallerLookup(from_number))
    for rule in rules:
        if not _matches(rule, context, local):
            continue
        decision = _apply(rule, context)
        if decision is not None:
            return decision
    return None


class _CallerContext:
    """What the rules ask about the caller, looked up once and only when a rule asks."""

    def __init__(self, raw: str, e164: str | None, dialled: str | None, lookup: numbers.CallerLookup):
        self.raw, self.e164, self.dialled, self.lookup = raw, e164, dialled, lookup

    @property
    def anonymous(self) -> bool:
        return not self.raw or self.raw.strip().lower() in ("anonymous", "unknown", "")

    @functools.cached_property
    def addresses(self) -> list[Address]:
        """The caller's addresses (directly or through a contact person), in lookup order."""
        if not self.e164:
            return []
        matches = self.lookup.result.matches
        ids = list(dict.fromkeys(match.address_id for match in matches if match.address_id))
        if not ids:
            return []
        found = {address.id: address for address in db.session.scalars(select(Address).where(Address.id.in_(ids)))}
        return [found[address_id] for address_id in ids if address_id in found]

    @functools.cached_property
    def known(self) -> bool:
        return bool(self.e164) and bool(self.lookup.result.matches)

    @functools.cached_property
    def account_manager(self) -> tuple[User, str] | None:
        """The first account manager of the caller's addresses who has a phone (SIP account)."""
        for address in self.addresses:
            manager = address.account_manager
            if manager is not None and manager.active:
                sipuid = placetel.sipuid_for(manager.username)
                if sipuid:
                    return manager, sipuid
        return None

    def has_tag(self, tag: str) -> bool:
        wanted = tag.strip().casefold()
        return any(wanted in split_tags(address.tags) for address in self.addresses)


def split_tags(text: str) -> set[str]:
    return {part.strip().casefold() for part in (text or "").split(",") if part.strip()}


def _matches(rule: RoutingRule, caller: _CallerContext, local: datetime) -> bool:
    if rule.dialled and rule.dialled != caller.dialled:
        return False
    if rule.weekdays and str(local.weekday()) not in rule.weekdays:
        return False
    if rule.time_from or rule.time_to:
        now = local.time().replace(second=0, microsecond=0)
        start = _parse_time(rule.time_from) or time(0, 0)
        end = _parse_time(rule.time_to) or time(23, 59, 59)
        if end == time(23, 59):  # "bis 23:59", the latest time the form takes: to the end of the day
            end = time(23, 59, 59)
        inside = start <= now < end if start <= end else (now >= start or now < end)  # over midnight
        if not inside:
            return False
    if rule.date_from and local.date() < rule.date_from:
        return False
    if rule.date_to and local.date() > rule.date_to:
        return False
    if rule.holidays != "any" and (is_holiday(local.date()) != (rule.holidays == "only")):
        return False
    if rule.caller == "anonymous" and not caller.anonymous:
        return False
    if rule.caller == "known" and not caller.known:
        return False
    if rule.caller == "unknown" and (caller.anonymous or caller.known):
        return False
    if rule.caller == "managed" and caller.account_manager is None:
        return False
    if rule.tag and not caller.has_tag(rule.tag):
        return False
    return True


def _apply(rule: RoutingRule, caller: _CallerContext) -> Decision | None:
    """The XML of a matching rule; None when it has nothing to ring (then the next rule may decide)."""
    def decision(xml: Element, action: messages.Message) -> Decision:
        return Decision(_response(xml), messages.gettext("%(rule)s: %(action)s", rule=rule.name, action=action), rule)

    if rule.action == "account_manager":
        manager = caller.account_manager
        fallback = _target_numbers(rule.targets)
        if manager is None and not fallback:
            return None
        forward = Element("Forward", voicemail=_bool(rule.voicemail_after))
        labels = ", ".join(label for _number, label in fallback)
        if manager is not None:
            _add_target(forward, [manager[1]], rule.ringtime)
        if fallback:
            _add_target(forward, [number for number, _label in fallback], 60)
        if manager is None:
            return decision(forward, messages.gettext("weitergeleitet an %(targets)s", targets=labels))
        if fallback:
            return decision(forward, messages.gettext(
                "weitergeleitet an %(manager)s (Kundenbetreuung), dann an %(targets)s",
                manager=manager[0].label, targets=labels))
        return decision(forward, messages.gettext("weitergeleitet an %(manager)s (Kundenbetreuung)",
                                                  manager=manager[0].label))
    if rule.action == "forward":
        targets = _target_numbers(rule.targets)
        if not targets:
            return None
        forward = Element("Forward", voicemail=_bool(rule.voicemail_after))
        _add_target(forward, [number for number, _label in targets], rule.ringtime)
        labels = ", ".join(label for _number, label in targets)
        return decision(forward, messages.gettext("weitergeleitet an %(targets)s", targets=labels))
    if rule.action == "voicemail":
        attributes = {"voicemail": "true"}
        if rule.object_id:
            attributes["voicemail_announcement"] = rule.object_id
        return decision(Element("Forward", **attributes), messages.gettext("Mailbox"))
    if rule.action in NEEDS_OBJECT_ID:
        tag = {"group": "Group", "routing_plan": "RoutingPlan", "prompt": "Prompt"}[rule.action]
        label = {"group": messages.gettext("Gruppe %(id)s", id=rule.object_id),
                 "routing_plan": messages.gettext("Routingplan %(id)s", id=rule.object_id),
                 "prompt": messages.gettext("Ansage %(id)s", id=rule.object_id)}[rule.action]
        return decision(Element(tag, id=rule.object_id), label)
    if rule.action == "reject":
        return decision(Element("Reject", reason="busy"), messages.gettext("abgewiesen (besetzt)"))
    if rule.action == "hangup":
        return decision(Element("Hangup"), messages.gettext("aufgelegt"))
    return None


def _target_numbers(text: str) -> list[tuple[str, str]]:
    """(what Placetel rings, label) for each target: a user's SIP account, a SIP id or a number."""
    result = []
    usernames = {user.username.casefold(): user for user in db.session.scalars(select(User).where(User.active))}
    for part in split_targets(text):
        user = usernames.get(part.casefold())
        if user is not None:
            sipuid = placetel.sipuid_for(user.username)
            if sipuid:
                result.append((sipuid, user.label))
        elif "@" in part:
            result.append((part, part))
        else:
            e164 = numbers.to_e164(part)
            if e164:
                result.append((e164, part))
    return result


def split_targets(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"[,;\n]", text or "") if part.strip()]


def _add_target(forward: Element, numbers_: list[str], ringtime: int) -> None:
    target = SubElement(forward, "Target", ringtime=str(ringtime))
    for number in numbers_:
        SubElement(target, "Number").text = number


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _response(action: Element) -> bytes:
    response = Element("Response")
    response.append(action)
    return b'<?xml version="1.0" encoding="UTF-8"?>' + tostring(response, encoding="unicode").encode("utf-8")


def _parse_time(text: str) -> time | None:
    return time.fromisoformat(text) if text and _TIME.match(text) else None


# --------------------------------------------------------------------------- holidays


def is_holiday(day: date) -> bool:
    """A public holiday in the office's state (setting routing.holiday_state), or 24.12./31.12. if so set."""
    if site_settings.get("routing.christmas_eve_closed") == "1" and (day.month, day.day) in ((12, 24), (12, 31)):
        return True
    return day in _holidays(site_settings.get("routing.holiday_state") or None, day.year)


@functools.lru_cache(maxsize=64)
def _holidays(state: str | None, year: int):
    return public_holidays.country_holidays("DE", subdiv=state, years=year)


# --------------------------------------------------------------------------- saving rules


def rule_errors(rule: RoutingRule) -> dict[str, messages.Message]:
    """Reasons why a rule cannot be saved, by field (German, `messages.localized` to show); empty when fine."""
    errors: dict[str, messages.Message] = {}
    if not (rule.name or "").strip():
        errors["name"] = messages.gettext("Bitte einen Namen eingeben.")
    if rule.caller not in CALLER_CONDITIONS:
        errors["caller"] = messages.gettext("Unbekannte Bedingung.")
    if rule.holidays not in HOLIDAY_CONDITIONS:
        errors["holidays"] = messages.gettext("Unbekannte Bedingung.")
    if rule.action not in ACTIONS:
        errors["action"] = messages.gettext("Bitte eine Aktion wählen.")
    for field in ("time_from", "time_to"):
        value = getattr(rule, field)
        if value and not _TIME.match(value):
            errors[field] = messages.gettext("Bitte eine Uhrzeit als HH:MM eingeben, z. B. 18:00.")
    if rule.weekdays and not re.fullmatch(r"[0-6]{1,7}", rule.weekdays):
        errors["weekdays"] = messages.gettext("Unbekannte Wochentage.")
    if rule.date_from and rule.date_to and rule.date_from > rule.date_to:
        errors["date_to"] = messages.gettext("Das Ende liegt vor dem Anfang.")
    if rule.dialled and not rule.dialled.startswith("+"):
        errors["dialled"] = messages.gettext("Bitte eine gültige Rufnummer eingeben.")
    if not 5 <= (rule.ringtime or 0) <= MAX_RINGTIME:
        errors["ringtime"] = messages.gettext("Bitte zwischen 5 und %(max)s Sekunden.", max=MAX_RINGTIME)
    if rule.action in NEEDS_OBJECT_ID and not re.fullmatch(r"[0-9]{1,12}", rule.object_id or ""):
        errors["object_id"] = messages.gettext("Bitte die Nummer (ID) aus dem Placetel-Portal eingeben.")
    if rule.action == "voicemail" and rule.object_id and not re.fullmatch(r"[0-9]{1,12}", rule.object_id):
        errors["object_id"] = messages.gettext("Die Ansage-ID besteht nur aus Ziffern.")
    if rule.action in ("forward", "account_manager"):
        target_error = _targets_error(rule.targets, required=rule.action == "forward")
        if target_error:
            errors["targets"] = target_error
    return errors


def _targets_error(text: str, required: bool) -> messages.Message | None:
    parts = split_targets(text)
    if required and not parts:
        return messages.gettext("Bitte mindestens ein Ziel eingeben: Benutzername, Rufnummer oder SIP-ID.")
    users = {user.username.casefold(): user for user in db.session.scalars(select(User))}
    problems = []
    for part in parts:
        user = users.get(part.casefold())
        if user is not None:
            if not user.active:
                problems.append(messages.gettext("„%(target)s“ ist deaktiviert.", target=part))
            elif not placetel.sipuid_for(user.username):
                problems.append(messages.gettext("„%(target)s“ hat kein Telefon (SIP-Konto) zugeordnet.", target=part))
        elif "@" in part:
            if not placetel.SIPUID_PATTERN.match(part):
                problems.append(messages.gettext("„%(target)s“ ist keine SIP-ID.", target=part))
        elif not numbers.to_e164(part):
            problems.append(messages.gettext("„%(target)s“ ist weder ein Benutzer noch eine gültige Rufnummer.",
                                             target=part))
    return messages.join(problems, " ") if problems else None


def normalise_dialled(text: str) -> str:
    """Our number as typed → E.164 ("" for empty, the text itself when it is no number: refused on save)."""
    text = (text or "").strip()
    if not text:
        return ""
    return numbers.to_e164(text) or text


def new_rule() -> RoutingRule:
    """An unsaved rule with the defaults the form shows, placed after the last rule."""
    last = db.session.scalar(select(func.max(RoutingRule.position))) or 0
    return RoutingRule(position=last + 10, name="", enabled=True, caller="any", tag="", dialled="", weekdays="",
                       time_from="", time_to="", holidays="any", action="forward", targets="", object_id="",
                       ringtime=20, voicemail_after=False)


def ordered_rules() -> list[RoutingRule]:
    return list(db.session.scalars(select(RoutingRule).order_by(RoutingRule.position, RoutingRule.id)))


def renumber(rules: list[RoutingRule]) -> None:
    """Positions 10, 20, 30 … in the given order; caller commits."""
    for index, rule in enumerate(rules, start=1):
        rule.position = index * 10


def describe_conditions(rule: RoutingRule) -> messages.Message:
    """The conditions in one line for the rule list and the CLI (German, `messages.localized` to show)."""
    parts: list = []
    caller = CALLER_LABELS.get(rule.caller)
    if caller:
        parts.append(caller)
    if rule.tag:
        parts.append(messages.gettext("Gruppe „%(tag)s“", tag=rule.tag))
    if rule.dialled:
        parts.append(messages.gettext("gewählt: %(number)s", number=numbers.display(rule.dialled)))
    if rule.weekdays:
        parts.append(messages.join([WEEKDAY_NAMES[int(day)] for day in rule.weekdays], ","))
    if rule.time_from or rule.time_to:
        parts.append(messages.gettext("%(start)s–%(end)s Uhr", start=rule.time_from or "00:00",
                                      end=rule.time_to or "24:00"))
    if rule.holidays == "only":
        parts.append(messages.gettext("an Feiertagen"))
    elif rule.holidays == "not":
        parts.append(messages.gettext("nicht an Feiertagen"))
    if rule.date_from or rule.date_to:
        start = rule.date_from.strftime("%d.%m.%Y") if rule.date_from else "…"
        end = rule.date_to.strftime("%d.%m.%Y") if rule.date_to else "…"
        parts.append(f"{start}–{end}")
    return messages.join(parts, ", ") if parts else messages.gettext("immer")


CALLER_LABELS = {
    "known": messages.gettext("bekannter Anrufer"),
    "unknown": messages.gettext("unbekannter Anrufer"),
    "anonymous": messages.gettext("Nummer unterdrückt"),
    "managed": messages.gettext("Adresse mit Kundenbetreuer"),
}
WEEKDAY_NAMES = (messages.gettext("Mo"), messages.gettext("Di"), messages.gettext("Mi"), messages.gettext("Do"),
                 messages.gettext("Fr"), messages.gettext("Sa"), messages.gettext("So"))
ACTION_LABELS = {
    "account_manager": messages.gettext("an den Kundenbetreuer weiterleiten"),
    "forward": messages.gettext("weiterleiten"),
    "voicemail": messages.gettext("Mailbox"),
    "group": messages.gettext("Placetel-Gruppe"),
    "routing_plan": messages.gettext("Placetel-Routingplan"),
    "prompt": messages.gettext("Ansage abspielen"),
    "reject": messages.gettext("abweisen (besetzt)"),
    "hangup": messages.gettext("auflegen"),
}


def parse_office_time(text: str) -> datetime:
    """"2026-12-24 18:00", "2026-12-24T18:00" or "24.12.2026 18:00" in the office's time zone; raises ValueError."""
    text = (text or "").strip()
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=office_zone())
        except ValueError:
            continue
    raise ValueError(messages.gettext("„%(text)s“ ist kein Zeitpunkt wie 2026-12-24 18:00.", text=text))
