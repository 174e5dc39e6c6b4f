"""Who is on the phone: colleagues' presence from the call journal and Placetel's `online` flags.

The state comes from what the app already knows: a call ringing on one of the
user's office numbers (or their phone ringing first for click-to-dial) is
"klingelt", an answered call not yet hung up is "im Gespräch", else "frei".
Whether the phone is registered at Placetel comes from the one-minute cache of
SIP users (placetel.sip_users); without a token it is simply left out.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import selectinload

from . import placetel, sip_accounts
from .extensions import db
from .models import Call, CallStatus, User, utcnow


# How long a click-to-dial counts as ringing the user's phone (Placetel rings it for about a minute).
DIALLING_RINGS_FOR = timedelta(minutes=2)


class PhoneState(str, enum.Enum):
    RINGING = "ringing"
    IN_CALL = "in_call"
    FREE = "free"


STATE_LABELS = {
    PhoneState.RINGING: _l("klingelt"),
    PhoneState.IN_CALL: _l("im Gespräch"),
    PhoneState.FREE: _l("frei"),
}


@dataclass(frozen=True)
class Presence:
    """One colleague's presence; `online` is None when Placetel's flag is not known."""

    user: User
    state: PhoneState
    online: bool | None = None
    sip_user: placetel.SipUser | None = None

    @property
    def label(self) -> str:
        return str(STATE_LABELS[self.state])


def _states(user_ids: set[int]) -> dict[int, PhoneState]:
    """The phone state of each of `user_ids` from the calls that are still open."""
    open_calls = db.session.scalars(select(Call).where(or_(
        # A click-to-dial whose OutgoingCall never comes (no caller id at Placetel) must not ring forever.
        and_(Call.status == CallStatus.DIALLING.value, Call.started_at >= utcnow() - DIALLING_RINGS_FOR),
        and_(Call.status.in_((CallStatus.RINGING.value, CallStatus.ACCEPTED.value)), Call.call_id.is_not(None)),
    ))).all()
    states: dict[int, PhoneState] = {}

    def mark(user_id: int | None, state: PhoneState) -> None:
        if user_id in user_ids and states.get(user_id) != PhoneState.IN_CALL:
            states[user_id] = state

    for call in open_calls:
        talking = call.status == CallStatus.ACCEPTED.value or (
            call.direction == "out" and call.status == CallStatus.RINGING.value)  # Placetel never accepts those
        if talking:
            mark(call.user_id, PhoneState.IN_CALL)
        elif call.status == CallStatus.DIALLING.value:
            mark(call.user_id, PhoneState.RINGING)  # click-to-dial rings the user's own phone first
        elif call.direction == "in":
            for user_id in sip_accounts.user_ids_for_number(call.to_number):
                mark(user_id, PhoneState.RINGING)
    return {user_id: states.get(user_id, PhoneState.FREE) for user_id in user_ids}


def presences(users: list[User], fetch: bool = True) -> list[Presence]:
    """The presence of each of `users`, in their order.

    `fetch=False` uses Placetel's flags only when they are cached (for banners,
    which must never wait on the network); `fetch=True` may fill the one-minute cache.
    """
    states = _states({user.id for user in users})
    by_uid = placetel.sip_users_by_uid(fetch=fetch) or {}
    result = []
    for user in users:
        sip_user = by_uid.get(user.sip_account.sipuid) if user.sip_account else None
        result.append(Presence(user, states[user.id], sip_user.online if sip_user else None, sip_user))
    return result


def colleagues(of: User | None = None, fetch: bool = True) -> list[Presence]:
    """Every active user but `of`, by name, with their presence (the Telefon page's "Kollegen")."""
    query = select(User).where(User.active.is_(True)).options(selectinload(User.sip_account))
    if of is not None:
        query = query.where(User.id != of.id)
    users = sorted(db.session.scalars(query), key=lambda user: user.label.casefold())
    return presences(users, fetch=fetch)


def presence_of(user: User | None, fetch: bool = False) -> Presence | None:
    """One user's presence (e.g. the colleague who took a call), or None without a user."""
    return presences([user], fetch=fetch)[0] if user is not None else None
