"""Turning phonebook records into stored values: sort key, numbers, content hash.

Shared by the sync engine (bulk) and the manual entries (one at a time), so a
synced and a manual entry with the same data are stored identically.
"""
from __future__ import annotations

import hashlib
import json
import unicodedata

from .. import numbers

# Phone type of a record → kind in the PhoneNumber lookup index
KIND_BY_TYPE = {"WORK": "phone", "MOBILE": "mobile", "WORK_FAX": "fax"}
GENDER_SALUTATION = {"male": "Herr", "female": "Frau"}

_FOLD = str.maketrans({"ß": "ss", "æ": "ae", "ø": "o", "đ": "d", "ł": "l"})


def sort_key(name: str) -> str:
    """Case- and accent-free form of a name, so "Ärzte", "arzte" and "Arzte" sort together.

    Umlauts sort as their base letter (DIN 5007-1, the order of German phonebooks).
    """
    name = name or ""
    if name.isascii():  # nothing to fold or decompose: the same result, several times faster
        return name.lower().strip()[:200]
    folded = unicodedata.normalize("NFKD", name.casefold().translate(_FOLD))
    return "".join(char for char in folded if not unicodedata.combining(char)).strip()[:200]


class NumberCache:
    """Parse each distinct number string once: raw → (stored text, E.164 or None)."""

    def __init__(self, region: str | None = None):
        self.region = region or numbers.default_region()
        self._cache: dict[str, tuple[str, str | None]] = {}

    def get(self, raw: str) -> tuple[str, str | None]:
        hit = self._cache.get(raw)
        if hit is None:
            e164 = numbers.to_e164(raw, self.region)
            hit = self._cache[raw] = (e164 or raw, e164)
        return hit


def content_hash(values: dict, salt: str = "") -> str:
    """sha256 over the normalised content of an entry (what a re-sync compares).

    `salt` carries what else decides the stored values (the number region).
    """
    content = [salt] + [values[key] for key in HASHED_FIELDS]
    return hashlib.sha256(_HASH_JSON.encode(content).encode()).hexdigest()


# What json.dumps(…, ensure_ascii=False, separators=(",", ":")) uses, built once instead of per call
_HASH_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


HASHED_FIELDS = ("display_name", "family_name", "given_name", "honorific_prefix", "gender",
                 "company", "job_title", "phones", "emails")
