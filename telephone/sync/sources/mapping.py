"""Small mapping helpers shared by the API sources (salutations, empty values, names)."""
from __future__ import annotations

from typing import Iterable

from telephone.sync.base import Record

_MALE = {"herr", "hr.", "hr", "herrn", "mr.", "mr"}
_FEMALE = {"frau", "fr.", "fr", "ms.", "ms", "mrs.", "mrs", "miss"}
_NEUTRAL = {"mx.", "mx"}


def text(value) -> str:
    """A field value as stripped text; None and missing become ""."""
    if value is None:
        return ""
    return str(value).strip()


def split_salutation(value) -> tuple[str, str]:
    """Split a salutation field into (gender, honorific prefix).

    "Herr" / "Mr." → ("male", ""), "Frau Dr." / "Ms. Dr." → ("female", "Dr."),
    "Prof. Dr." → ("", "Prof. Dr."). Words that only say the gender are not
    kept as honorific; anything else (academic degrees) is.
    """
    gender = ""
    rest = []
    for word in text(value).split():
        key = word.lower()
        if key in _MALE:
            gender = gender or "male"
        elif key in _FEMALE:
            gender = gender or "female"
        elif key in _NEUTRAL:
            continue
        else:
            rest.append(word)
    return gender, " ".join(rest)


def full_name(given: str, family: str, fallback: str = "") -> str:
    """The display name: the system's own if it has one, else "given family"."""
    return text(fallback) or " ".join(part for part in (text(given), text(family)) if part)


def record(internal_id, *, given=None, family=None, display=None, salutation=None,
           phones: Iterable[tuple[str, object]] = (), emails: Iterable[object] = (),
           company=None, job_title=None) -> Record:
    """A Record from raw field values of a system: None/blank values dropped, names and salutation derived.

    `phones` are (PHONE_TYPES member, number) pairs, `emails` plain addresses (all of type WORK).
    """
    gender, honorific = split_salutation(salutation)
    return Record(
        internal_id=text(internal_id),
        display_name=full_name(given, family, display),
        family_name=text(family),
        given_name=text(given),
        honorific_prefix=honorific,
        gender=gender,
        phones=[(kind, text(number)) for kind, number in phones if text(number)],
        emails=[("WORK", text(address)) for address in emails if text(address)],
        company=text(company),
        job_title=text(job_title),
    )
