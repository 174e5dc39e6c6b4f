"""Live call banners: who sees a call, and the banner HTML for its current state.

A banner shows one incoming call (element id `call-<call_id>`) and is rendered
from the `Call` row, so whatever event arrives last, the banner shows the state
the journal has. Streams replay from `CallEvent.id` (the SSE event id).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from flask import Flask, render_template
from flask_babel import force_locale
from sqlalchemy import func, literal, select, true
from sqlalchemy.orm import configure_mappers

from . import presence, site_settings, sip_accounts
# `parse_number_assignments` moved to sip_accounts; importable from here as before.
from .sip_accounts import parse_number_assignments  # noqa: F401
from .sse import format_sse
from .extensions import db
from .models import Call, CallEvent, CallStatus, DismissedBanner, PhoneNote, User

# How many events a reconnecting stream may replay at most (older ones are stale).
REPLAY_LIMIT = 200
# Line breaks and indentation between tags: a banner travels as one `data:` line.
_LAYOUT_WHITESPACE = re.compile(r"\s*\n\s*")
# Ended banners disappear after this many seconds.
ENDED_BANNER_SECONDS = 20
TEMPLATE = "calls/_banner.html"


@dataclass(frozen=True)
class Banner:
    """One SSE message: the banner of a call after the CallEvent `event_id`."""

    event_id: int
    call_id: str
    html: dict[str, str]  # locale → rendered fragment
    recipients: frozenset[int] | None  # user ids; None = every user
    muted: frozenset[int] = frozenset()  # users who switched banners off
    dismissed: frozenset[int] = frozenset()  # users who closed this call's banner
    _frames: dict[str, bytes] = field(default_factory=dict, compare=False, repr=False)

    def for_user(self, user_id: int, locale: str) -> str | None:
        """The fragment for this user, or None when the banner is not meant for them."""
        if user_id in self.muted or user_id in self.dismissed:
            return None
        if self.recipients is not None and user_id not in self.recipients:
            return None
        return self.fragment(locale)

    def fragment(self, locale: str) -> str:
        """The HTML in this language, else in the first one rendered."""
        return self.html.get(locale) or next(iter(self.html.values()))

    def frame(self, locale: str, event_id: int | None = None) -> bytes:
        """The SSE message for this banner. With its own event id (the default) it is formatted
        and encoded once, shared by every stream; another id is formatted for the one caller."""
        if event_id not in (None, self.event_id):
            return format_sse(self.fragment(locale), event="call", event_id=event_id).encode()
        if locale not in self._frames:
            self._frames[locale] = format_sse(self.fragment(locale), event="call", event_id=self.event_id).encode()
        return self._frames[locale]


def recipients(call: Call) -> frozenset[int] | None:
    """Who gets the banner of this call; None means every user (who has banners on).

    "all" (Xentral's behaviour) sends to everybody; "affected" to the users mapped
    to the answering SIP peer, the user the journal assigns, and, while the call
    rings, the users assigned to the dialled number.
    """
    if site_settings.get("calls.routing") != "affected":
        return None
    ids = {user.id for user in sip_accounts.users_for_sipuid(call.peer)}
    if call.status == CallStatus.RINGING.value:
        ids |= sip_accounts.user_ids_for_number(call.to_number)
    if call.user_id:
        ids.add(call.user_id)
    return frozenset(ids)


def muted_user_ids() -> set[int]:
    """Users who switched call banners off (checked for every message, so a change applies at once)."""
    return set(db.session.scalars(select(User.id).where(User.call_notifications.is_(False))))


def dismissed_by(call_id: str) -> frozenset[int]:
    """Users who closed the banner of this call."""
    return frozenset(db.session.scalars(select(DismissedBanner.user_id).where(DismissedBanner.call_id == call_id)))


def dismissed_by_user(call_id: str):
    """SQL for a query of users: whether the user closed the banner of this call."""
    return select(DismissedBanner.user_id).where(DismissedBanner.user_id == User.id,
                                                 DismissedBanner.call_id == call_id).exists()


def dismiss(user: User, call_id: str) -> bool:
    """Close a call's banner for `user` everywhere (caller commits); False if there is no such call."""
    if not db.session.scalar(select(Call.id).where(Call.call_id == call_id)):
        return False
    if db.session.get(DismissedBanner, (user.id, call_id)) is None:
        db.session.add(DismissedBanner(user_id=user.id, call_id=call_id))
    return True


@dataclass(frozen=True)
class LastContact:
    """What the banner recalls of a known caller: the call before this one and the latest phone note."""

    call_at: datetime | None = None
    taken_by: str = ""
    note_subject: str = ""


def last_contact(call: Call) -> LastContact | None:
    """The previous call with the same number (when, who took or made it) and the latest phone note
    about the caller's address or on a call with this number (one query); None for unknown callers."""
    if not call.matches or not call.remote_e164:
        return None
    previous = (
        select(Call.started_at, User.display_name, User.username, Call.peer)
        .outerjoin(User, User.id == Call.user_id)
        .where(Call.remote_e164 == call.remote_e164, Call.id != call.id, Call.started_at <= call.started_at)
        .order_by(Call.started_at.desc(), Call.id.desc()).limit(1)
    ).subquery()
    address_ids = {match["address_id"] for match in call.matches if match.get("address_id")}
    about_caller = PhoneNote.call_pk.in_(select(Call.id).where(Call.remote_e164 == call.remote_e164))
    if address_ids:
        about_caller = about_caller | PhoneNote.address_id.in_(address_ids)
    note = (
        select(PhoneNote.subject).where(about_caller)
        .order_by(PhoneNote.created_at.desc(), PhoneNote.id.desc()).limit(1)
    ).scalar_subquery()
    # One row whether or not there was a previous call: the note comes along either way
    found = db.session.execute(
        select(previous, note.label("note")).select_from(select(literal(1)).subquery().outerjoin(previous, true()))
    ).one()
    if found.started_at is None and found.note is None:
        return None
    taken_by = (found.display_name or found.username or found.peer) if found.started_at else ""
    return LastContact(found.started_at, taken_by or "", found.note or "")


def title(call: Call) -> str:
    from flask_babel import gettext as _

    from .i18n import duration_filter

    status = call.status
    if status == CallStatus.RINGING.value:
        return _("Eingehender Anruf")
    if status == CallStatus.ACCEPTED.value:
        who = call.user.label if call.user else call.peer
        return _("Anruf angenommen von %(user)s", user=who) if who else _("Anruf angenommen")
    if status == CallStatus.ENDED.value:
        return _("Anruf beendet (%(duration)s)", duration=duration_filter(call.duration or 0))
    if status == CallStatus.VOICEMAIL.value:
        return _("Anruf auf der Mailbox")
    return _("Verpasster Anruf")


def prepare(app: Flask) -> None:
    """Do at start-up what the first call's banner would otherwise wait for (about 90 ms here):
    configure the ORM's mappers and compile the banner template."""
    configure_mappers()
    app.jinja_env.get_template(TEMPLATE)


def render(call: Call, locales: tuple[str, ...]) -> dict[str, str]:
    """Render the banner fragment of `call` once per locale. Needs a request context."""
    from .journal import missed_count_label, open_missed_count  # journal → events → banners

    ended = call.status not in (CallStatus.RINGING.value, CallStatus.ACCEPTED.value)
    anonymous = not call.remote_e164
    context = {"call": call, "ended": ended, "anonymous": anonymous,
               "dismiss_after": ENDED_BANNER_SECONDS if ended else None,
               # the count changes only when a call ends: one query for those events alone
               "last_contact": last_contact(call),
               "missed_calls": missed_count_label(open_missed_count()) if ended else None,
               # the colleague who took the call, with their presence (Placetel's flag only from the cache)
               "taker": presence.presence_of(call.user, fetch=False)}
    html = {}
    for locale in locales:
        with force_locale(locale):
            fragment = render_template(TEMPLATE, title=title(call), **context)
            html[locale] = _LAYOUT_WHITESPACE.sub(" ", fragment).strip()
    return html


def banner_for_event(event_id: int, locales: tuple[str, ...], muted: frozenset[int] | None = None) -> Banner | None:
    """The banner to send after CallEvent `event_id`, or None if that call has no banner.

    `muted`: the users who switched banners off, if the caller knows them already.
    """
    row = db.session.execute(
        select(CallEvent.call_id, Call).join(Call, Call.call_id == CallEvent.call_id).where(CallEvent.id == event_id)
    ).first()
    return banner_for_call(event_id, row.Call, locales, muted) if row is not None else None


def banner_for_call(event_id: int, call: Call, locales: tuple[str, ...], muted: frozenset[int] | None = None,
                    dismissed: frozenset[int] | None = None) -> Banner | None:
    """The banner of `call` after CallEvent `event_id`, rendered from the call as it is (no reload),
    or None if the call has no banner. `muted` and `dismissed` are read unless the caller knows them."""
    if call.direction != "in":
        return None
    return Banner(event_id, call.call_id, render(call, locales), recipients(call),
                  frozenset(muted_user_ids()) if muted is None else muted,
                  dismissed_by(call.call_id) if dismissed is None else dismissed)


def replay(after_event_id: int, locales: tuple[str, ...], muted: frozenset[int] | None = None) -> list[Banner]:
    """Banners for the calls that changed after `after_event_id`: one per call, its latest state.

    At most REPLAY_LIMIT calls: the most recently changed ones (those most likely
    still ringing), sent oldest first so that the newest state arrives last.
    """
    newest = (
        select(func.max(CallEvent.id).label("event_id"))
        .where(CallEvent.id > after_event_id)
        .group_by(CallEvent.call_id)
        .order_by(func.max(CallEvent.id).desc())
        .limit(REPLAY_LIMIT)
    )
    return _banners(sorted(db.session.scalars(newest).all()), locales, muted)


def ringing_snapshot(locales: tuple[str, ...]) -> list[Banner]:
    """Banners of the calls still ringing, for a stream that has just connected."""
    latest = (
        select(func.max(CallEvent.id))
        .join(Call, Call.call_id == CallEvent.call_id)
        .where(Call.status == CallStatus.RINGING.value, Call.direction == "in")
        .group_by(CallEvent.call_id)
        .order_by(func.max(CallEvent.id))
    )
    return _banners(db.session.scalars(latest).all(), locales)


def _banners(event_ids: list[int], locales: tuple[str, ...], muted: frozenset[int] | None = None) -> list[Banner]:
    if muted is None and event_ids:
        muted = frozenset(muted_user_ids())  # once for all of them
    banners = (banner_for_event(event_id, locales, muted) for event_id in event_ids)
    return [banner for banner in banners if banner is not None]


def latest_event_id() -> int:
    return db.session.scalar(select(func.max(CallEvent.id))) or 0
