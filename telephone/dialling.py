"""Click-to-dial: a number typed or clicked becomes a Placetel call that rings the user's own phone.

Every attempt with a dialable number is recorded in the call journal (`Call`,
direction "out", call_id NULL) with what happened in `outcome`. A double click
(same user, same number within `REPEAT_WINDOW`) starts only one call; the guard
lives in the database so that it holds across threads and processes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import select

from . import numbers, placetel
from .extensions import db
from .models import Call, CallStatus, User, utcnow

REPEAT_WINDOW = timedelta(seconds=5)
MAX_FROM_NAME = 40


@dataclass
class DialOutcome:
    """What happened to one dial request, for the fragment or the flash message."""

    ok: bool
    message: str
    number: str  # as typed
    e164: str | None = None
    # Offered when the app cannot dial for the user: softphones and TAPI clients handle tel: links.
    tel_link: str | None = None
    repeated: bool = False  # a double click: the first request is already dialling
    invalid: bool = False  # the typed text is not a dialable number


def dial(user: User, text: str | None) -> DialOutcome:
    """Start a click-to-dial call from `user`'s SIP account to the number in `text`.

    Never raises for Placetel problems: they come back as an outcome with a German message.
    """
    parsed = numbers.parse(text)
    target = parsed.dial_target
    if target is None:
        if not parsed.raw:
            message = _("Bitte geben Sie eine Rufnummer ein.")
        else:
            message = _("„%(number)s“ ist keine gültige Rufnummer. Bitte mit Vorwahl eingeben, "
                        "z. B. 0221 1234567 oder +49 221 1234567.", number=parsed.raw)
        return DialOutcome(False, message, parsed.raw, invalid=True)

    e164 = parsed.e164
    shown = numbers.display(e164, parsed.raw)
    tel_link = f"tel:{target}"
    sipuid = placetel.sipuid_for(user.username)
    if not sipuid:
        message = _unmapped_message(user, shown)
        db.session.add(_journal_row(user, parsed, "", CallStatus.DIAL_FAILED, message))
        db.session.commit()
        return DialOutcome(False, message, parsed.raw, e164, tel_link=tel_link)

    call = _claim(user, parsed, sipuid)
    if call is None:
        message = _("Der Anruf an %(number)s wird bereits aufgebaut – Ihr Telefon klingelt gleich.",
                    number=shown)
        return DialOutcome(True, message, parsed.raw, e164, repeated=True)

    try:
        placetel.start_call(sipuid, target, from_name=_from_name(call.matches))
    except placetel.PlacetelError as exc:
        call.status = CallStatus.DIAL_FAILED.value
        call.outcome = exc.message_for(user)
        db.session.commit()
        return DialOutcome(False, call.outcome, parsed.raw, e164, tel_link=tel_link)
    call.outcome = _("Ihr Telefon klingelt – nehmen Sie ab, um %(number)s anzurufen.", number=shown)
    db.session.commit()
    return DialOutcome(True, call.outcome, parsed.raw, e164)


def _unmapped_message(user: User, shown: str) -> str:
    """Why the PBX cannot dial for a user without a SIP account: admins learn how to map themselves."""
    if user.is_admin:
        return _("Ihrem Benutzer ist kein Placetel-Telefon zugeordnet, deshalb kann die Telefonanlage "
                 "%(number)s nicht für Sie anrufen. Tragen Sie unter Einstellungen → Telefonie in der "
                 "Account-Liste die Zeile „%(username)s:SIP-UID“ ein („Verbindung testen“ zeigt die "
                 "SIP-UIDs). Bis dahin können Sie über den Link mit Ihrem Softphone anrufen.",
                 number=shown, username=user.username)
    return _("Ihrem Benutzer ist kein Placetel-Telefon zugeordnet, deshalb kann die Telefonanlage "
             "%(number)s nicht für Sie anrufen. Die Administration trägt Sie unter Einstellungen → "
             "Telefonie ein. Bis dahin können Sie über den Link mit Ihrem Softphone anrufen.",
             number=shown)


def _journal_row(user: User, parsed: numbers.ParsedNumber, sipuid: str, status: CallStatus,
                 outcome: str) -> Call:
    """The journal row of an attempt, with who was called looked up like an incoming caller
    (also a company's main number dialled with an extension)."""
    matches = [match.stored() for match in numbers.lookup_caller(parsed.e164).matches]
    return Call(direction="out", user_id=user.id, to_number=parsed.raw[:120], remote_e164=parsed.e164,
                peer=sipuid, status=status.value, outcome=outcome, call_id=None, matches=matches)


def _claim(user: User, parsed: numbers.ParsedNumber, sipuid: str) -> Call | None:
    """Record the attempt as dialling, or return None when the same call was started moments ago.

    The row is committed before looking for an earlier one: of two concurrent
    requests both rows exist when either looks, and only the later one (higher
    id) backs off, so exactly one call is started.
    """
    call = _journal_row(user, parsed, sipuid, CallStatus.DIALLING, "")
    db.session.add(call)
    db.session.commit()
    earlier = db.session.scalar(
        select(Call.id).where(
            Call.user_id == user.id,
            # internal extensions have no E.164: the same extension as typed
            Call.remote_e164 == parsed.e164 if parsed.e164 else Call.to_number == parsed.raw[:120],
            Call.direction == "out",
            Call.status == CallStatus.DIALLING.value,
            Call.started_at >= call.started_at - REPEAT_WINDOW,
            Call.id < call.id,
        ).limit(1)
    )
    if earlier is None:
        return call
    db.session.delete(call)
    db.session.commit()
    return None


def _from_name(matches: list[dict]) -> str | None:
    """Who is about to be called, shown on the user's phone while it rings (first match only)."""
    if not matches:
        return None
    match = matches[0]
    name = f"{match['name']} ({match['company']})" if match.get("company") else match["name"]
    return name[:MAX_FROM_NAME]
