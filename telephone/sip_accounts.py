"""Who has which Placetel SIP account, and which of the office's numbers rings whom.

Both are rows with foreign keys (`SipAccount`, `OfficeNumber` + `NumberAssignment`),
edited on the admin's user page. Scripts keep using Xentral's text formats through
`flask settings set placetel.accounts "anna:777123456@fpbx.de"` and
`calls.number_assignments "0221999000:anna,ben"`: this module registers those two
keys with the settings store, so that setting them replaces the rows and reading
them renders the rows as text. The settings module itself imports no domain module.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

from flask import g, has_request_context
from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from sqlalchemy.orm import contains_eager, selectinload

from . import numbers, site_settings
from .extensions import db
from .models import NumberAssignment, OfficeNumber, SipAccount, User

SIPUID_PATTERN = re.compile(r"^[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
ACCOUNTS_KEY = "placetel.accounts"
NUMBER_ASSIGNMENTS_KEY = "calls.number_assignments"
MAX_NUMBER_NAME = 80


# --------------------------------------------------------------------------- SIP accounts


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


def normalize_sipuid(sipuid: str | None) -> str:
    """A SIP UID as stored and compared: trimmed, lower case (Placetel's are case-insensitive)."""
    return (sipuid or "").strip().lower()


def is_sipuid(text: str | None) -> bool:
    """Whether `text` looks like a Placetel SIP UID (777123456@fpbx.de)."""
    return bool(SIPUID_PATTERN.match((text or "").strip()))


def _mapping_lines(text: str | None) -> Iterator[tuple[int, str, str]]:
    """(line number, user name, SIP UID) of every line that is neither blank nor a comment.

    A line without a colon yields empty parts.
    """
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        username, colon, sipuid = (part.strip() for part in line.partition(":"))
        yield (number, username, sipuid) if colon else (number, "", "")


def mapped_accounts(text: str | None) -> dict[str, str]:
    """User name → SIP UID from a mapping text, skipping faulty lines instead of failing.

    The first valid line for a user wins, as in `parse_account_mapping`.
    """
    accounts: dict[str, str] = {}
    for _number, username, sipuid in _mapping_lines(text):
        if username and SIPUID_PATTERN.match(sipuid) and username not in accounts:
            accounts[username] = sipuid
    return accounts


def accounts_by_sipuid(text: str) -> dict[str, str]:
    """SIP UID (lower case) → user name from a mapping text; for a shared phone the first user wins."""
    mapping: dict[str, str] = {}
    for username, sipuid in mapped_accounts(text).items():
        mapping.setdefault(sipuid.lower(), username)
    return mapping


def parse_account_mapping(text: str, known_usernames: set[str]) -> list[AccountLine]:
    """Parse lines `Benutzername:SIP-UID` (e.g. `anna:777123456@fpbx.de`).

    Lines are trimmed and split at the first colon; blank lines and lines starting
    with `#` are ignored. Every faulty line is reported with its number.
    """
    accounts: list[AccountLine] = []
    problems: list[str] = []
    first_line_of: dict[str, int] = {}
    for number, username, sipuid in _mapping_lines(text):
        if not username or not sipuid:
            problems.append(_("Zeile %(number)s: Format ist „Benutzername:SIP-UID“ (z. B. "
                              "anna:777123456@fpbx.de).", number=number))
            continue
        if username not in known_usernames:
            problems.append(_("Zeile %(number)s: Benutzer „%(username)s“ gibt es nicht.", number=number,
                              username=username))
        if not SIPUID_PATTERN.match(sipuid):
            problems.append(_("Zeile %(number)s: „%(sipuid)s“ ist keine gültige SIP-UID (z. B. "
                              "777123456@fpbx.de).", number=number, sipuid=sipuid))
        if username in first_line_of:
            problems.append(
                _("Zeile %(number)s: Benutzer „%(username)s“ ist schon in Zeile %(first)s zugeordnet.",
                  number=number, username=username, first=first_line_of[username])
            )
        else:
            first_line_of[username] = number
        accounts.append(AccountLine(number, username, sipuid))
    if problems:
        raise AccountMappingError(problems)
    return accounts


def stored_accounts() -> dict[str, str]:
    """User name → SIP UID of every user with a SIP account, in the order they were assigned."""
    rows = db.session.execute(
        select(User.username, SipAccount.sipuid).join(SipAccount.user).order_by(SipAccount.id)
    ).tuples()
    return dict(rows.all())


def sipuid_for(username: str) -> str | None:
    """The SIP UID of `username`, or None."""
    return db.session.scalar(select(SipAccount.sipuid).join(SipAccount.user).where(User.username == username))


def users_for_sipuid(sipuid: str | None) -> list[User]:
    """The users sharing a SIP account, first assigned first (a shared phone may have several)."""
    sipuid = normalize_sipuid(sipuid)
    if not sipuid:
        return []
    return list(db.session.scalars(
        select(User).join(User.sip_account).where(SipAccount.sipuid == sipuid).order_by(SipAccount.id)
        .options(contains_eager(User.sip_account))  # loaded with it: the banner shows the phone's presence
    ))


def users_with_phones() -> list[User]:
    """The users who have a SIP account (loaded with it), by user name."""
    return list(db.session.scalars(
        select(User).join(User.sip_account).options(selectinload(User.sip_account)).order_by(User.username)
    ))


def assign_sip_account(user: User, sipuid: str | None) -> None:
    """Give `user` the SIP account `sipuid` (None or "" takes it away). Caller commits."""
    sipuid = normalize_sipuid(sipuid)
    if not sipuid:
        if user.sip_account is not None:
            db.session.delete(user.sip_account)
            user.sip_account = None
        return
    if user.sip_account is None:
        user.sip_account = SipAccount(sipuid=sipuid)
    else:
        user.sip_account.sipuid = sipuid


def accounts_text() -> str:
    """The SIP accounts in the `placetel.accounts` text format (lines `user:sipuid`)."""
    return "\n".join(f"{username}:{sipuid}" for username, sipuid in stored_accounts().items())


def _usernames() -> dict[str, int]:
    return dict(db.session.execute(select(User.username, User.id)).tuples().all())


def _text_validator(parse: Callable[[str, set[str]], object]) -> Callable[[str], str]:
    """A settings validator from a parser that raises ValueError naming the faulty lines."""
    def validate(value: str) -> str:
        try:
            parse(value, set(_usernames()))
        except ValueError as exc:
            raise site_settings.InvalidSetting(str(exc)) from exc
        return value
    return validate


def replace_accounts(text: str) -> None:
    """Replace every SIP account by the lines of a `placetel.accounts` text (validated before)."""
    user_ids = _usernames()
    db.session.execute(delete(SipAccount))
    db.session.add_all(SipAccount(user_id=user_ids[line.username], sipuid=normalize_sipuid(line.sipuid))
                       for line in parse_account_mapping(text, set(user_ids)))
    db.session.flush()
    db.session.expire_all()


# --------------------------------------------------------------------------- office numbers


class InvalidAssignment(ValueError):
    """A number assignment was refused; the message says why, in German."""


def parse_number_assignments(text: str, known_usernames: set[str]) -> dict[str, set[str]]:
    """Parse lines `number:user1,user2` into {E164: {usernames}}; raises ValueError listing bad lines."""
    result: dict[str, set[str]] = {}
    problems = []
    for line_no, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        number, colon, users = line.rpartition(":")
        e164 = numbers.to_e164(number)
        names = {name.strip() for name in users.split(",") if name.strip()}
        if not colon or not e164:
            problems.append(_("Zeile %(line_no)s: Format ist „Rufnummer:benutzer1,benutzer2“ mit gültiger "
                              "Rufnummer.", line_no=line_no))
            continue
        unknown = sorted(names - known_usernames)
        if unknown:
            problems.append(_("Zeile %(line_no)s: Benutzer %(unknown)s gibt es nicht.", line_no=line_no,
                              unknown=", ".join(unknown)))
        result.setdefault(e164, set()).update(names)
    if problems:
        raise ValueError("\n".join(problems))
    return result


def office_numbers() -> list[OfficeNumber]:
    """Every office number with its assignments (and their users), by name then number."""
    return list(db.session.scalars(
        select(OfficeNumber).options(selectinload(OfficeNumber.assignments).selectinload(NumberAssignment.user))
        .order_by(OfficeNumber.name, OfficeNumber.e164)
    ))


def number_assignments_text() -> str:
    """The assignments in the `calls.number_assignments` text format (lines `number:user1,user2`)."""
    lines = []
    for office_number in office_numbers():
        usernames = sorted(assignment.user.username for assignment in office_number.assignments)
        if usernames:
            lines.append(f"{office_number.e164}:{','.join(usernames)}")
    return "\n".join(lines)


def replace_number_assignments(text: str) -> None:
    """Replace every assignment by the lines of a `calls.number_assignments` text (validated before).

    Names the admin gave to numbers that stay are kept.
    """
    user_ids = _usernames()
    wanted = parse_number_assignments(text, set(user_ids))
    db.session.execute(delete(NumberAssignment))
    db.session.execute(delete(OfficeNumber).where(OfficeNumber.e164.not_in(list(wanted)), OfficeNumber.name == ""))
    existing = {row.e164: row for row in db.session.scalars(select(OfficeNumber))}
    for e164, usernames in wanted.items():
        office_number = existing.get(e164) or OfficeNumber(e164=e164, name="")
        db.session.add(office_number)
        db.session.flush()
        db.session.add_all(NumberAssignment(office_number_id=office_number.id, user_id=user_ids[name])
                           for name in sorted(usernames))
    db.session.flush()
    db.session.expire_all()


def user_ids_for_number(number: str | None) -> set[int]:
    """The users an office number is assigned to (any notation of the number)."""
    e164 = numbers.to_e164(number or "")
    if not e164:
        return set()
    return set(db.session.scalars(
        select(NumberAssignment.user_id).join(NumberAssignment.office_number).where(OfficeNumber.e164 == e164)
    ))


def usernames_for_number(number: str | None) -> set[str]:
    """The user names an office number is assigned to."""
    ids = user_ids_for_number(number)
    return set(db.session.scalars(select(User.username).where(User.id.in_(ids)))) if ids else set()


def number_name(number: str | None) -> str:
    """The name the admin gave an office number ("Zentrale"), or "" when it has none.

    The office's few named numbers are read once per request (a journal page asks for every row).
    """
    e164 = numbers.to_e164(number or "")
    if not e164:
        return ""
    if has_request_context():
        if "_office_number_names" not in g:
            g._office_number_names = dict(db.session.execute(select(OfficeNumber.e164, OfficeNumber.name)).tuples().all())
        return g._office_number_names.get(e164) or ""
    return db.session.scalar(select(OfficeNumber.name).where(OfficeNumber.e164 == e164)) or ""


def dialled_label(number: str | None) -> str:
    """Which of our numbers a caller dialled, as the banner and the journal say it: "Zentrale" or the number."""
    return number_name(number) or numbers.display(numbers.to_e164(number or ""), number or "")


def assign_number(user: User, number: str, name: str = "") -> NumberAssignment:
    """Let calls to the office number `number` ring `user`; a given name renames the number.

    Raises InvalidAssignment with a German reason. Caller commits.
    """
    e164 = numbers.to_e164(number or "")
    if not e164:
        raise InvalidAssignment(_("Bitte eine gültige Rufnummer eingeben, z. B. 0221 999000."))
    name = (name or "").strip()
    if len(name) > MAX_NUMBER_NAME:
        raise InvalidAssignment(_("Der Name darf höchstens %(max)s Zeichen lang sein.", max=MAX_NUMBER_NAME))
    office_number = db.session.scalar(select(OfficeNumber).where(OfficeNumber.e164 == e164))
    if office_number is None:
        office_number = OfficeNumber(e164=e164, name=name)
        db.session.add(office_number)
        db.session.flush()
    elif name:
        office_number.name = name
    if any(assignment.user_id == user.id for assignment in office_number.assignments):
        raise InvalidAssignment(_("Diese Rufnummer ist dem Benutzer schon zugeordnet."))
    assignment = NumberAssignment(office_number=office_number, user=user)
    db.session.add(assignment)
    db.session.flush()
    return assignment


def remove_number_assignment(user: User, assignment_id: int) -> bool:
    """Take an office number away from `user`; a number nobody has and without a name goes too.

    Returns False when the user has no such assignment. Caller commits.
    """
    assignment = db.session.get(NumberAssignment, assignment_id)
    if assignment is None or assignment.user_id != user.id:
        return False
    office_number = assignment.office_number
    db.session.delete(assignment)
    db.session.flush()
    if not office_number.name and not db.session.scalar(
            select(func.count()).select_from(NumberAssignment).where(NumberAssignment.office_number_id == office_number.id)):
        db.session.delete(office_number)
    return True


site_settings.register_row_setting(ACCOUNTS_KEY, _text_validator(parse_account_mapping), accounts_text,
                                   replace_accounts)
site_settings.register_row_setting(NUMBER_ASSIGNMENTS_KEY, _text_validator(parse_number_assignments),
                                   number_assignments_text, replace_number_assignments)
