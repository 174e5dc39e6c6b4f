"""Typed SQLAlchemy 2.0 models of the whole app.

Times are stored as naive UTC (`utcnow()`); templates convert them to the user's zone.
"""
from __future__ import annotations

import enum
import hmac
import secrets
from datetime import date, datetime, timezone

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    FetchedValue,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db


def utcnow() -> datetime:
    """Current time as naive UTC, the form every timestamp is stored in."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


# --------------------------------------------------------------------------- accounts


class Role(str, enum.Enum):
    ADMIN = "admin"
    USER = "user"


def new_session_token() -> str:
    """A fresh random session token (see `User.session_token`)."""
    return secrets.token_urlsafe(24)


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default=Role.USER.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # "Telefon-Benachrichtigungen": live call banners for this user.
    call_notifications: Mapped[bool] = mapped_column(Boolean, default=True)
    # Opt-ins: the browser's desktop notification and a quiet ring while a call rings.
    desktop_notifications: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    ring_sound: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    locale: Mapped[str | None] = mapped_column(String(8))
    # Set for generated one-time passwords: the user must choose a new one at login.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    # Part of every session and remember cookie (`get_id`): a new token ends them all.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)

    sip_account: Mapped[SipAccount | None] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    number_assignments: Mapped[list[NumberAssignment]] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )

    def set_password(self, password: str) -> None:
        """Store the hash of a new password; every session and remember cookie of the user ends."""
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def end_sessions(self) -> None:
        """Log the user out everywhere: cookies carrying the old token no longer load the user."""
        self.session_token = new_session_token()

    def get_id(self) -> str:
        """Flask-Login's alternative id: user id and session token, as stored in the cookies."""
        return f"{self.id}:{self.session_token}"

    @classmethod
    def for_session(cls, session_id: str) -> User | None:
        """The active user whose `get_id()` is `session_id`; None once that session has ended."""
        user_id, _, token = str(session_id).partition(":")
        if not (user_id.isascii() and user_id.isdigit() and token):
            return None
        user = db.session.get(cls, int(user_id))
        if user is None or not user.active or not hmac.compare_digest(user.session_token.encode(), token.encode()):
            return None
        return user

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN.value

    @property
    def label(self) -> str:
        return self.display_name or self.username

    def __repr__(self) -> str:
        return f"<User {self.username}>"


class LoginFailure(db.Model):
    """One failed login, counted per user name and per client address to slow down guessing.

    Kept in the database so that every worker process and host sees the same counts."""

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)  # as typed, lower-cased
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class SipAccount(db.Model):
    """The Placetel SIP account (phone, softphone, app) a user dials from and answers on.

    One per user; several users may share a phone (the same SIP UID).
    """

    __tablename__ = "user_sip_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    sipuid: Mapped[str] = mapped_column(String(120), index=True)  # e.g. 777123456@fpbx.de, lower case

    user: Mapped[User] = relationship(back_populates="sip_account")


class OfficeNumber(db.Model):
    """One of the office's own numbers (E.164) with the name the admin gave it ("Zentrale")."""

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(80), default="")

    assignments: Mapped[list[NumberAssignment]] = relationship(
        back_populates="office_number", cascade="all, delete-orphan", passive_deletes=True
    )


class NumberAssignment(db.Model):
    """Calls to an office number ring (and concern) this user."""

    __table_args__ = (UniqueConstraint("office_number_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_number_id: Mapped[int] = mapped_column(ForeignKey("office_number.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)

    office_number: Mapped[OfficeNumber] = relationship(back_populates="assignments")
    user: Mapped[User] = relationship(back_populates="number_assignments")


class Setting(db.Model):
    """Admin settings as key/value; secret values are stored encrypted (see crypto.py)."""

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)


# --------------------------------------------------------------------------- address master


class AddressKind(str, enum.Enum):
    COMPANY = "company"
    PERSON = "person"


class Address(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default=AddressKind.COMPANY.value)
    # Kundennummer: how imports recognise an address they already have
    customer_number: Mapped[str] = mapped_column(String(40), default="", index=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    company: Mapped[str] = mapped_column(String(200), default="")
    street: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(20), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    country: Mapped[str] = mapped_column(String(2), default="DE")
    email: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    mobile: Mapped[str] = mapped_column(String(64), default="")
    fax: Mapped[str] = mapped_column(String(64), default="")
    # Call Control: the colleague this customer reaches first, and groups such as "VIP, Lieferant"
    account_manager_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    tags: Mapped[str] = mapped_column(String(200), default="")
    # Set on every flush (search_documents): German sort order, persons by surname; the folded search text
    sort_key: Mapped[str] = mapped_column(String(200), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_address_sort", "sort_key", "id"),)

    account_manager: Mapped[User | None] = relationship()
    contacts: Mapped[list[ContactPerson]] = relationship(
        back_populates="address", cascade="all, delete-orphan",
        order_by="[ContactPerson.sort_key, ContactPerson.id]"
    )
    numbers: Mapped[list[PhoneNumber]] = relationship(
        back_populates="address", cascade="all, delete-orphan"
    )

    @property
    def is_company(self) -> bool:
        return self.kind == AddressKind.COMPANY.value


class ContactPerson(db.Model):
    """An Ansprechpartner of a company address."""

    id: Mapped[int] = mapped_column(primary_key=True)
    address_id: Mapped[int] = mapped_column(ForeignKey("address.id", ondelete="CASCADE"), index=True)
    salutation: Mapped[str] = mapped_column(String(20), default="")  # Anrede: Herr, Frau, …
    title: Mapped[str] = mapped_column(String(60), default="")  # Dr., Prof. …
    first_name: Mapped[str] = mapped_column(String(120), default="")
    last_name: Mapped[str] = mapped_column(String(120), default="")
    # "Dr. Anna Schmidt": title, first and last name, as search, caller lookup and lists show it
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(64), default="")
    mobile: Mapped[str] = mapped_column(String(64), default="")
    fax: Mapped[str] = mapped_column(String(64), default="")
    # Set on every flush (search_documents): surname first; own fields, numbers, company name and city
    sort_key: Mapped[str] = mapped_column(String(200), default="")
    search_text: Mapped[str] = mapped_column(Text, default="")

    address: Mapped[Address] = relationship(back_populates="contacts")
    numbers: Mapped[list[PhoneNumber]] = relationship(
        back_populates="contact_person", cascade="all, delete-orphan"
    )


# --------------------------------------------------------------------------- company phonebook


class SyncSource(db.Model):
    """A system the phonebook is synced from (csv, m365, exchange, sugarcrm, salesforce)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")
    # off | hourly | daily | weekly
    interval: Mapped[str] = mapped_column(String(10), default="daily")
    # "HH:MM" in the office's time zone, for daily and weekly runs
    run_at: Mapped[str] = mapped_column(String(5), default="03:00")
    # 0 = Monday, for weekly runs
    weekday: Mapped[int] = mapped_column(Integer, default=0)
    url: Mapped[str] = mapped_column(String(500), default="")
    login: Mapped[str] = mapped_column(String(200), default="")
    # Fernet token of the password or client secret (crypto.encrypt); never rendered
    password_encrypted: Mapped[str] = mapped_column(Text, default="")
    # Further non-secret, type-specific fields (tenant id, client id, mailbox, platform, …)
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    entries: Mapped[list[PhonebookEntry]] = relationship(back_populates="source", passive_deletes=True)
    runs: Mapped[list[SyncRun]] = relationship(
        back_populates="source", cascade="all, delete-orphan", order_by="SyncRun.id.desc()",
        passive_deletes=True,
    )


class PhonebookEntry(db.Model):
    """A Firmentelefonbuch entry: synced (source set, origin S) or manual (no source, origin M)."""

    __table_args__ = (UniqueConstraint("source_id", "internal_id"), Index("ix_phonebook_entry_sort", "sort_name", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sync_source.id", ondelete="CASCADE"), index=True)
    internal_id: Mapped[str | None] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200), index=True)
    # German sort order (search_documents): persons by surname ("gross thomas"), others by display_name
    sort_name: Mapped[str] = mapped_column(String(200), default="", index=True)
    # names, company, job title and the digits of the numbers, folded for search (search_documents)
    search_text: Mapped[str] = mapped_column(Text, default="")
    family_name: Mapped[str] = mapped_column(String(120), default="")
    given_name: Mapped[str] = mapped_column(String(120), default="")
    honorific_prefix: Mapped[str] = mapped_column(String(60), default="")
    gender: Mapped[str] = mapped_column(String(10), default="")  # male | female | ""
    company: Mapped[str] = mapped_column(String(200), default="")
    job_title: Mapped[str] = mapped_column(String(200), default="")
    # [{"type": "WORK"|"MOBILE"|"WORK_FAX", "number": raw}]; also indexed in PhoneNumber
    phones: Mapped[list] = mapped_column(JSON, default=list)
    # [{"type": "WORK", "address": "…"}]
    emails: Mapped[list] = mapped_column(JSON, default=list)
    # Hash of the synced record, so an unchanged re-sync compares without loading rows
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    source: Mapped[SyncSource | None] = relationship(back_populates="entries")
    numbers: Mapped[list[PhoneNumber]] = relationship(
        back_populates="phonebook_entry", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def origin(self) -> str:
        return "M" if self.source_id is None else "S"


class SyncRun(db.Model):
    """One run (or preview) of a source's sync, shown as the source's history."""

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sync_source.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | manual | cli | upload | preview
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | success | failed
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    # [{"level": "error"|"warning"|"info", "line": int|None, "text": "…"}]
    messages: Mapped[list] = mapped_column(JSON, default=list)
    # --- the process running it (sync helper): a run no living process holds is dead (sync/liveness.py)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    process_marker: Mapped[str | None] = mapped_column(String(80))

    source: Mapped[SyncSource] = relationship(back_populates="runs")


# --------------------------------------------------------------------------- number index


class PhoneNumber(db.Model):
    """Lookup index over every stored number: raw text, E.164 and exactly one owner.

    `e164` is NULL when the text could not be parsed; such numbers are kept and
    shown as typed, marked as not recognised.
    """

    __table_args__ = (
        Index("ix_phone_number_e164", "e164"),
        # The Telefon page's directory order (directory.ORDER): a page is a walk along this index
        Index("ix_phone_number_owner_sort", "owner_sort", "kind", "id"),
        # Per owner key, the numbers the journal has (telephone/journal_numbers.py): the journal's
        # name search reads these instead of every number of the matching owners
        *(Index(f"ix_phone_number_journal_{owner}", f"{owner}_id", "e164", sqlite_where=text("in_journal = 1"),
                postgresql_where=text("in_journal"))
          for owner in ("address", "contact_person", "phonebook_entry")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    raw: Mapped[str] = mapped_column(String(64))
    e164: Mapped[str | None] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(10), default="phone")  # phone | mobile | fax
    # Set only for a company's main number: the stem its extensions start with (numbers.main_prefix)
    main_prefix: Mapped[str | None] = mapped_column(String(20), index=True)
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id", ondelete="CASCADE"), index=True)
    contact_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_person.id", ondelete="CASCADE"), index=True
    )
    phonebook_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("phonebook_entry.id", ondelete="CASCADE"), index=True
    )
    # The owner's sort key (contact person's or address's sort_key, phonebook entry's sort_name), copied
    # here by search_documents and the sync engine, so that the directory sorts without joining owners
    owner_sort: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # Whether the journal has a call with this number: kept by the database (journal_numbers)
    in_journal: Mapped[bool] = mapped_column(Boolean, server_default=sa_false())

    address: Mapped[Address | None] = relationship(back_populates="numbers")
    contact_person: Mapped[ContactPerson | None] = relationship(back_populates="numbers")
    phonebook_entry: Mapped[PhonebookEntry | None] = relationship(back_populates="numbers")


# --------------------------------------------------------------------------- calls


class CallStatus(str, enum.Enum):
    RINGING = "ringing"  # klingelt
    ACCEPTED = "accepted"  # angenommen
    ENDED = "ended"  # beendet
    MISSED = "missed"  # verpasst
    VOICEMAIL = "voicemail"  # Mailbox
    BUSY = "busy"  # besetzt
    BLOCKED = "blocked"  # blockiert
    CANCELED = "canceled"  # abgebrochen
    UNAVAILABLE = "unavailable"  # nicht erreichbar
    CONGESTION = "congestion"  # Netz überlastet
    EXPIRED = "expired"  # ohne Ende-Meldung geschlossen
    DIAL_FAILED = "dial_failed"  # click-to-dial was refused
    DIALLING = "dialling"  # click-to-dial accepted by Placetel, waiting for the phone


class Call(db.Model):
    """The call journal (Anrufliste): one row per Placetel call or click-to-dial attempt."""

    # called_back_at is set by triggers, on SQLite after the INSERT's RETURNING: read it back when asked
    __mapper_args__ = {"eager_defaults": False}

    __table_args__ = (
        # A later outgoing call to a number: one seek (the triggers of telephone/callbacks.py)
        Index("ix_call_callback", "remote_e164", "direction", "started_at"),
        # The open missed calls (journal.open_missed_count): equalities and IS NULL only, so one range per status
        Index("ix_call_open_missed", "status", "direction", "done_at", "called_back_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Placetel's call id (64 hex digits, or any printable id up to 128 characters);
    # NULL for a click-to-dial attempt not (yet) tied to a call
    call_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    direction: Mapped[str] = mapped_column(String(3), default="in")  # in | out
    from_number: Mapped[str] = mapped_column(String(120), default="")
    to_number: Mapped[str] = mapped_column(String(120), default="")
    # E.164 of the other party (caller for incoming, callee for outgoing), for lookup and search
    remote_e164: Mapped[str | None] = mapped_column(String(20), index=True)
    peer: Mapped[str] = mapped_column(String(120), default="")  # SIP account that answered / dialled
    status: Mapped[str] = mapped_column(String(16), default=CallStatus.RINGING.value, index=True)
    hangup_type: Mapped[str] = mapped_column(String(16), default="")
    duration: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime)
    # Who answered (incoming) or dialled (outgoing / click-to-dial)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"), index=True)
    # Click-to-dial: what happened ("Telefon klingelt", Placetel's refusal, …)
    outcome: Mapped[str] = mapped_column(Text, default="")
    # Call Control: what the app told Placetel ("gesperrt", "weitergeleitet an Anna (Kundenbetreuung)")
    routing_note: Mapped[str] = mapped_column(String(200), default="")
    # --- the same as a message shown in the reader's language (english helper; see messages.py)
    routing_message: Mapped[dict | None] = mapped_column(JSON)
    # Caller lookup result at the time of the call: [{"kind","name","company","url"}, …]
    matches: Mapped[list] = mapped_column(JSON, default=list)
    # Missed calls stay highlighted until called back or marked done
    done_at: Mapped[datetime | None] = mapped_column(DateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    # Incoming calls: start of the first later outgoing call to the same number (a callback), kept by
    # database triggers (telephone/callbacks.py), never written by the app
    called_back_at: Mapped[datetime | None] = mapped_column(DateTime, server_default=FetchedValue(),
                                                            server_onupdate=FetchedValue())
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])
    events: Mapped[list[CallEvent]] = relationship(
        primaryjoin="Call.call_id == foreign(CallEvent.call_id)", order_by="CallEvent.id", viewonly=True
    )
    notes: Mapped[list[PhoneNote]] = relationship(back_populates="call")
    voicemail: Mapped[Voicemail | None] = relationship(back_populates="call", passive_deletes=True)


class CallEvent(db.Model):
    """Every accepted Notify request, stored once per (call_id, event).

    Its id is also the SSE event id: a stream resumes with `Last-Event-ID` from here.
    """

    __table_args__ = (UniqueConstraint("call_id", "event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), index=True)
    event: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)


class DismissedBanner(db.Model):
    """A call banner the user closed: it stays closed in every tab, after a reload and on other devices."""

    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    call_id: Mapped[str] = mapped_column(String(128), primary_key=True, index=True)
    dismissed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Voicemail(db.Model):
    """A mailbox recording of a call, downloaded from Placetel into the app's own storage.

    The file lives under VOICEMAIL_DIR with a random name; Placetel's download URL
    expires and is never stored.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    call_pk: Mapped[int] = mapped_column(ForeignKey("call.id", ondelete="CASCADE"), unique=True)
    file_name: Mapped[str] = mapped_column(String(64), unique=True)
    content_type: Mapped[str] = mapped_column(String(64), default="audio/mpeg")
    size: Mapped[int] = mapped_column(Integer, default=0)
    stored_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)

    call: Mapped[Call] = relationship(back_populates="voicemail")


class PhoneNote(db.Model):
    """A Telefonnotiz: what was said on a call, filed with the address or contact person."""

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text, default="")
    call_pk: Mapped[int | None] = mapped_column(ForeignKey("call.id", ondelete="SET NULL"), index=True)
    # Notes outlive what they are filed under (other users' notes must not vanish with an address):
    # the link becomes NULL and `filed_under` keeps the name as text.
    address_id: Mapped[int | None] = mapped_column(ForeignKey("address.id", ondelete="SET NULL"), index=True)
    contact_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_person.id", ondelete="SET NULL"), index=True
    )
    phonebook_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("phonebook_entry.id", ondelete="SET NULL"), index=True
    )
    filed_under: Mapped[str] = mapped_column(String(250), default="")
    number: Mapped[str] = mapped_column(String(120), default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    call: Mapped[Call | None] = relationship(back_populates="notes")
    address: Mapped[Address | None] = relationship()
    contact_person: Mapped[ContactPerson | None] = relationship()
    phonebook_entry: Mapped[PhonebookEntry | None] = relationship()
    author: Mapped[User | None] = relationship()

    @property
    def target_deleted(self) -> bool:
        """Filed under an address, contact or phonebook entry that has since been deleted."""
        return bool(self.filed_under) and not (self.address_id or self.contact_person_id or self.phonebook_entry_id)


# --------------------------------------------------------------------------- phones and other systems


class DirectoryAccess(db.Model):
    """When a desk phone (or a PBX) last fetched a directory format, for the admin's "Telefone & Geräte"."""

    format: Mapped[str] = mapped_column(String(20), primary_key=True)  # yealink | snom | … | cid
    last_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_address: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")


class PlacetelContact(db.Model):
    """A contact this app created in Placetel's phonebook for one company phonebook entry.

    Only contacts listed here are ever changed or deleted in Placetel: the customer's
    own Placetel contacts are never touched.
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    # The entry it mirrors; NULL once the entry is gone (the next push deletes the contact)
    phonebook_entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("phonebook_entry.id", ondelete="SET NULL"), unique=True
    )
    placetel_id: Mapped[str] = mapped_column(String(40), unique=True)
    # Hash of the payload last sent, so an unchanged entry sends nothing
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    pushed_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ContactPushRun(db.Model):
    """One push of the phonebook to Placetel's contacts (or its preview)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16))  # manual | cli | sync | preview
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | success | failed
    started_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    total: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    deleted: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")
    # --- the same as a message shown in the reader's language (english helper; see messages.py)
    error_message: Mapped[dict | None] = mapped_column(JSON)


# --------------------------------------------------------------------------- Call Control


class BlockedNumber(db.Model):
    """A number (E.164) or a number prefix that Call Control rejects before any rule."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # "+49221123456" for one number, "+49900" with is_prefix for every number starting so
    number: Mapped[str] = mapped_column(String(20), unique=True)
    is_prefix: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)

    created_by: Mapped[User | None] = relationship()

    @property
    def pattern(self) -> str:
        return self.number + "*" if self.is_prefix else self.number


class RoutingRule(db.Model):
    """One rule of Call Control: conditions on the caller and the time, and what Placetel should do.

    Rules are checked by `position`; the first that matches decides (routing.py).
    """

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0, index=True)
    name: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # --- conditions (empty = any)
    caller: Mapped[str] = mapped_column(String(20), default="any")  # any|known|unknown|anonymous|managed
    tag: Mapped[str] = mapped_column(String(60), default="")
    dialled: Mapped[str] = mapped_column(String(20), default="")  # our number, E.164
    weekdays: Mapped[str] = mapped_column(String(7), default="")  # "01234" = Monday to Friday
    time_from: Mapped[str] = mapped_column(String(5), default="")  # "HH:MM", office time
    time_to: Mapped[str] = mapped_column(String(5), default="")
    holidays: Mapped[str] = mapped_column(String(10), default="any")  # any | only | not
    date_from: Mapped[date | None] = mapped_column(Date)
    date_to: Mapped[date | None] = mapped_column(Date)
    # --- action
    action: Mapped[str] = mapped_column(String(20))
    # user names, numbers or SIP ids, one per line or comma-separated (forward; fallback of "account manager")
    targets: Mapped[str] = mapped_column(Text, default="")
    # Placetel's id of the group, routing plan or prompt (voicemail: its announcement)
    object_id: Mapped[str] = mapped_column(String(20), default="")
    ringtime: Mapped[int] = mapped_column(Integer, default=20)
    voicemail_after: Mapped[bool] = mapped_column(Boolean, default=False)
