"""The block list of Call Control: numbers and number prefixes that are rejected before any rule."""
from __future__ import annotations

import re

import phonenumbers
from sqlalchemy import select

from . import messages, numbers
from .extensions import db
from .models import BlockedNumber, User

MIN_PREFIX_DIGITS = 3


class InvalidBlockEntry(ValueError):
    """The number or prefix cannot be blocked; the message says why, in German."""


def normalise(text: str) -> tuple[str, bool]:
    """`0221 123456` → ("+49221123456", False); `0900*` → ("+49900", True). Raises InvalidBlockEntry."""
    text = (text or "").strip()
    is_prefix = text.endswith("*")
    body = text[:-1].strip() if is_prefix else text
    if not body:
        raise InvalidBlockEntry(messages.gettext(
            "Bitte eine Rufnummer oder einen Anfang mit * angeben, z. B. 0900*."))
    if is_prefix:
        digits = re.sub(r"[\s/()-]", "", body)
        if not re.fullmatch(r"\+?[0-9]+", digits):
            raise InvalidBlockEntry(messages.gettext("„%(text)s“ ist kein Nummernanfang (nur Ziffern, dann "
                                                     "*).", text=text))
        e164 = _prefix_e164(digits)
        if len(digits.lstrip("+")) < MIN_PREFIX_DIGITS:
            raise InvalidBlockEntry(messages.gettext("„%(text)s“ ist zu kurz: mindestens "
                                                     "%(min)s Ziffern vor dem *.",
                                                     text=text, min=MIN_PREFIX_DIGITS))
        return e164, True
    e164 = numbers.to_e164(body)
    if not e164:
        raise InvalidBlockEntry(messages.gettext("„%(text)s“ ist keine gültige Rufnummer.", text=text))
    return e164, False


def _prefix_e164(digits: str) -> str:
    """A national or international number start in E.164 form: `0900` → `+49900`, `0044` → `+44`."""
    if digits.startswith("+"):
        return digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    country = str(phonenumbers.country_code_for_region(numbers.default_region()))
    return "+" + country + (digits[1:] if digits.startswith("0") else digits)


def caller_key(raw: str | None) -> str | None:
    """What the block list compares for a caller whose number `phonenumbers` finds invalid (spam often is):
    its digits in E.164 form, `0900 0001234` → `+4990000001234`; None for anything that is no number."""
    digits = re.sub(r"[\s/()-]", "", raw or "")
    if not re.fullmatch(r"\+?[0-9]{%d,}" % MIN_PREFIX_DIGITS, digits):
        return None
    return _prefix_e164(digits)


def add(text: str, reason: str = "", user: User | None = None) -> BlockedNumber:
    """Put a number or prefix on the block list (again: updates the reason); caller commits."""
    number, is_prefix = normalise(text)
    entry = db.session.scalar(select(BlockedNumber).where(BlockedNumber.number == number))
    if entry is None:
        entry = BlockedNumber(number=number, is_prefix=is_prefix)
        db.session.add(entry)
    entry.is_prefix = is_prefix
    entry.reason = (reason or "").strip()[:200]
    entry.created_by_id = user.id if user else None
    return entry


def match(e164: str | None) -> BlockedNumber | None:
    """The block list entry for a caller: the number itself, or the longest prefix of it (one index query)."""
    if not e164:
        return None
    prefixes = [e164[:length] for length in range(MIN_PREFIX_DIGITS + 1, len(e164) + 1)]
    rows = db.session.scalars(select(BlockedNumber).where(BlockedNumber.number.in_(prefixes))).all()
    exact = [row for row in rows if row.number == e164]
    if exact:
        return exact[0]
    candidates = [row for row in rows if row.is_prefix]
    return max(candidates, key=lambda row: len(row.number)) if candidates else None


def entries() -> list[BlockedNumber]:
    return list(db.session.scalars(select(BlockedNumber).order_by(BlockedNumber.number)))
