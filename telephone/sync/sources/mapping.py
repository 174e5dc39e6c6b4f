"""Small mapping helpers shared by the API sources (salutations, empty values, names)."""
from __future__ import annotations

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
