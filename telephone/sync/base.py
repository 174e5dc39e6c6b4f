"""The contract between phonebook sources and the sync engine.

A source reads one external system and yields plain `Record`s. It knows nothing
about the database: the engine validates the records, enforces limits, computes
the difference to what the source synced before and applies it in one
transaction. A source that cannot read its system raises `SourceError` with a
German message (and line numbers where the source is a file). Messages are built with
`messages.gettext(…)` so that they are stored with msgid and parameters and shown in
the reader's language (see telephone/messages.py).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Iterable

from .. import messages

PHONE_TYPES = ("WORK", "MOBILE", "WORK_FAX")
EMAIL_TYPES = ("WORK",)
GENDERS = ("male", "female")


@dataclass
class Record:
    """One contact as a source delivers it, before validation."""

    internal_id: str
    display_name: str = ""
    family_name: str = ""
    given_name: str = ""
    honorific_prefix: str = ""
    gender: str = ""  # "male", "female" or ""
    phones: list[tuple[str, str]] = field(default_factory=list)  # (PHONE_TYPES member, number as delivered)
    emails: list[tuple[str, str]] = field(default_factory=list)  # ("WORK", address)
    company: str = ""
    job_title: str = ""
    line: int | None = None  # line in the source file, for messages


@dataclass
class Problem:
    """A reason a sync fails (error) or a notice shown with it (warning, info)."""

    text: str
    line: int | None = None
    level: str = "error"
    code: str = ""  # names a reason the UI acts on, e.g. "mass_delete"

    def as_dict(self) -> dict:
        """The stored form: German `text` (also for old readers) and, for a Message, its msgid and parameters."""
        item = {"level": self.level, "line": self.line, "text": str(self.text)}
        if isinstance(self.text, messages.Message):
            item["message"] = messages.to_stored(self.text)
        if self.code:
            item["code"] = self.code
        return item


class SourceError(Exception):
    """Reading the source failed; nothing is changed. `problems` lists every reason."""

    def __init__(self, message: str, problems: list[Problem] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = problems or [Problem(message)]

    def localized(self) -> str:
        """The reason in the reader's language."""
        return messages.localized(self.message)


@dataclass(frozen=True)
class SourceField:
    """A form field a source type needs.

    `column` names where the value is stored on SyncSource: "url", "login",
    "password" (encrypted, write-only) or None for `SyncSource.options[name]`.
    """

    name: str
    label: str
    kind: str = "text"  # text | url | password | select | email
    column: str | None = None
    required: bool = True
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    default: str = ""


class Source(ABC):
    """A phonebook source type. Subclasses register themselves with `@register`."""

    type: ClassVar[str]
    label: ClassVar[str]  # shown in tables and as the default name, e.g. "Microsoft 365"
    description: ClassVar[str] = ""  # shown on the form, e.g. the Exchange Online hint
    fields: ClassVar[tuple[SourceField, ...]] = ()
    # True for file sources: an admin may also upload the file in the browser (see `use_upload`).
    accepts_upload: ClassVar[bool] = False

    def __init__(self, url: str = "", login: str = "", password: str = "", options: dict | None = None,
                 timeout: float = 30.0, deadline: float = 120.0):
        self.url = url
        self.login = login
        self.password = password
        self.options = options or {}
        self.timeout = timeout  # per socket operation
        self.deadline = deadline  # per download, in total

    @abstractmethod
    def fetch(self) -> Iterable[Record]:
        """Yield every record of the source; raise SourceError when it cannot be read."""

    @abstractmethod
    def test_connection(self) -> str:
        """Authenticate and read one page; return a German success text with a count."""

    def use_upload(self, data: bytes) -> None:
        """Read the next `fetch` from uploaded bytes instead of the system (sources with `accepts_upload`)."""
        raise SourceError(messages.gettext("Für diesen Schnittstellentyp kann keine Datei hochgeladen werden."))

    def problems(self) -> list[Problem]:
        """Row errors, warnings and notes collected by the last `fetch` (e.g. ignored columns).

        The engine lists them with its own findings; any error makes the sync fail.
        """
        return []


REGISTRY: dict[str, type[Source]] = {}


def register(cls: type[Source]) -> type[Source]:
    REGISTRY[cls.type] = cls
    return cls


def source_class(type_name: str) -> type[Source]:
    try:
        return REGISTRY[type_name]
    except KeyError:
        raise SourceError(messages.gettext("Unbekannter Schnittstellentyp „%(type)s“.", type=type_name)) from None
