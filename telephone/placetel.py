"""Placetel: account mapping (Xentral's format), REST client and Notify parsing."""
from __future__ import annotations

import re
from dataclasses import dataclass

SIPUID_PATTERN = re.compile(r"^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class AccountLine:
    line: int
    username: str
    sipuid: str


class AccountMappingError(ValueError):
    """The account mapping text has faulty lines; `problems` holds one message per line."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_account_mapping(text: str, known_usernames: set[str]) -> list[AccountLine]:
    """Parse lines `Benutzername:SIP-UID` (e.g. `anna:777123456@fpbx.de`).

    Lines are trimmed and split at the first colon; blank lines and lines starting
    with `#` are ignored. Every faulty line is reported with its number.
    """
    accounts: list[AccountLine] = []
    problems: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, colon, sipuid = (part.strip() for part in line.partition(":"))
        if not colon or not username or not sipuid:
            problems.append(f"Zeile {number}: Format ist „Benutzername:SIP-UID“ (z. B. anna:777123456@fpbx.de).")
            continue
        if username not in known_usernames:
            problems.append(f"Zeile {number}: Benutzer „{username}“ gibt es nicht.")
        if not SIPUID_PATTERN.match(sipuid):
            problems.append(f"Zeile {number}: „{sipuid}“ ist keine gültige SIP-UID (z. B. 777123456@fpbx.de).")
        if username in first_line_of:
            problems.append(
                f"Zeile {number}: Benutzer „{username}“ ist schon in Zeile {first_line_of[username]} zugeordnet."
            )
        else:
            first_line_of[username] = number
        accounts.append(AccountLine(number, username, sipuid))
    if problems:
        raise AccountMappingError(problems)
    return accounts


def stored_accounts() -> list[AccountLine]:
    """The account mapping from the settings; lines that no longer validate are skipped."""
    from . import site_settings

    accounts = []
    for number, line in enumerate(site_settings.get("placetel.accounts").splitlines(), start=1):
        username, colon, sipuid = (part.strip() for part in line.strip().partition(":"))
        if colon and username and sipuid and not line.strip().startswith("#"):
            accounts.append(AccountLine(number, username, sipuid))
    return accounts


def account_usernames_for(sipuid: str) -> list[str]:
    """The users mapped to a SIP account (a shared phone may have several)."""
    sipuid = (sipuid or "").strip().lower()
    return [account.username for account in stored_accounts() if account.sipuid.lower() == sipuid]
