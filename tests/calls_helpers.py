"""Shared helpers for the call tests: Placetel fixture bodies, signing, posting and setup."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from telephone import site_settings
from telephone.extensions import db
from telephone.models import Call
from telephone.placetel import sign

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SECRET = "12345"
NOTIFY_URL = "/calls/placetel/notify"
XENTRAL_URL = "/index.php?module=callcenter&action=call&provider=placetel"


def fixture_bodies() -> list[bytes]:
    """The Notify bodies of placetel-notify-examples.txt, in the order Placetel sends them."""
    lines = (FIXTURES / "placetel-notify-examples.txt").read_text().splitlines()
    return [line.strip().encode() for line in lines if line.strip() and not line.startswith("#")]


BODIES = fixture_bodies()
ANSWERED_CALL = BODIES[0:3]  # IncomingCall, CallAccepted, HungUp accepted 38 s
ANONYMOUS_MISSED = BODIES[3:5]  # IncomingCall from anonymous, HungUp missed
OUTGOING_BUSY = BODIES[5:7]  # OutgoingCall from 777111222@fpbx.de, HungUp busy
ANSWERED_ID = "9f2b6c1e0d4a7b3c5e8f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"
ANONYMOUS_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
OUTGOING_ID = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
SIPUID = "777111222@fpbx.de"


def post_notify(client, body: bytes | str, secret: str | None = SECRET, signature: str | None = None,
                url: str = NOTIFY_URL):
    """POST a Notify body like Placetel does, signed with `secret` unless `signature` is given."""
    body = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature is None and secret:
        signature = sign(body, secret)
    if signature is not None:
        headers["X-PLACETEL-SIGNATURE"] = signature
    return client.post(url, data=body, headers=headers)


def configure(app, secret: str | None = SECRET, accounts: str = "") -> None:
    """Set the shared secret and the account mapping."""
    with app.app_context():
        if secret:
            site_settings.set_value("placetel.shared_secret", secret)
        if accounts:
            site_settings.set_value("placetel.accounts", accounts)
        db.session.commit()


def stored_call(app, call_id: str) -> Call | None:
    """The journal row of a call as stored now (detached, for assertions)."""
    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.call_id == call_id))
        if call is not None:
            db.session.expunge(call)
        return call
