"""Messages that services produce now and a person reads later, in the reader's language.

A service (a sync, Call Control, a settings check) runs in German, often outside a
request, and its messages may be stored (sync run messages, routing notes). So a
service does not translate: it builds a `Message` with `messages.gettext(msgid,
**params)` or `messages.ngettext(singular, plural, num, **params)`. A `Message` *is*
the German text (a `str`: logs, the CLI and existing comparisons keep working) and
also carries its msgid and parameters, so that

* `localized(value)` shows it in the language of the current request, and
* `to_stored(value)` / `from_stored(data)` keep msgid and parameters in a JSON column;
  `localized(stored_dict)` translates those when shown.

The two functions are named like gettext's so that `pybabel extract` finds the msgids
(`messages.gettext("…")` is extracted like `gettext("…")`). Parameters may themselves be
Messages (e.g. a reason inside "Anmeldung abgelehnt – %(reason)s"); they are translated too.
"""
from __future__ import annotations

from typing import Any

from flask_babel import gettext as _gettext
from flask_babel import ngettext as _ngettext


class Message(str):
    """German text of a message plus what it takes to show it in another language."""

    msgid: str
    plural: str | None
    num: int | None
    params: dict[str, Any]

    def __new__(cls, msgid: str, params: dict[str, Any] | None = None, plural: str | None = None,
                num: int | None = None) -> Message:
        params = dict(params or {})
        source = msgid if plural is None or num == 1 else plural
        values = {"num": num, **params} if plural is not None else params
        # formatted like flask_babel does: only with parameters (a "%(name)s" without one raises KeyError)
        text = source % values if values or plural is not None or "%(" in source else source
        message = super().__new__(cls, text)
        message.msgid, message.plural, message.num, message.params = msgid, plural, num, params
        return message

    def localized(self) -> str:
        """The message in the current request's language (German outside a request)."""
        if not self.msgid:  # gettext("") would be the catalog's header
            return ""
        params = {name: localized(value) for name, value in self.params.items()}
        try:
            if self.plural is not None:
                return _ngettext(self.msgid, self.plural, self.num, **params)
            return _gettext(self.msgid, **params) if params else _gettext(self.msgid)
        except (KeyError, TypeError, ValueError):  # a translation that no longer fits its stored parameters
            return str(self)


def gettext(msgid: str, **params: Any) -> Message:
    """A message to translate when shown: German now, `localized()` later."""
    return Message(msgid, params)


def ngettext(singular: str, plural: str, num: int, **params: Any) -> Message:
    """A message with a count (`%(num)d` in both forms) to translate when shown."""
    return Message(singular, params, plural, num)


def join(parts: list, separator: str = "; ") -> Message:
    """Texts and Messages joined by `separator`; each part is translated when shown."""
    params = {f"p{index}": part for index, part in enumerate(parts)}
    return Message(separator.replace("%", "%%").join(f"%(p{index})s" for index in range(len(parts))), params)


def localized(value: Any) -> Any:
    """`value` in the reader's language: a Message, a stored message dict, or else unchanged."""
    if isinstance(value, Message):
        return value.localized()
    if isinstance(value, dict) and "msgid" in value:
        restored = from_stored(value)
        return restored.localized() if restored is not None else value.get("text", "")
    return value


def to_stored(value: Any) -> Any:
    """A JSON-safe form of a message (a dict for Messages, plain values unchanged)."""
    if not isinstance(value, Message):
        return value
    item: dict[str, Any] = {"msgid": value.msgid, "text": str(value),
                            "params": {name: to_stored(param) for name, param in value.params.items()}}
    if value.plural is not None:
        item["plural"], item["num"] = value.plural, value.num
    return item


def from_stored(data: Any) -> Message | None:
    """The Message `to_stored` kept; None for anything else (e.g. old rows with text only)."""
    if not (isinstance(data, dict) and isinstance(data.get("msgid"), str)):
        return None
    try:
        params = {name: (from_stored(param) or param) if isinstance(param, dict) else param
                  for name, param in (data.get("params") or {}).items()}
        return Message(data["msgid"], params, data.get("plural"), data.get("num"))
    except (KeyError, TypeError, ValueError):  # a stored row that no longer fits its msgid
        return None


def reason(exc: BaseException) -> str:
    """The message a service exception carries, in the reader's language."""
    return localized(exc.args[0]) if exc.args and isinstance(exc.args[0], str) else str(exc)


def problem_text(problem: Any) -> str:
    """A sync problem (a `Problem` or its stored dict) in the reader's language."""
    if isinstance(problem, dict):
        stored = problem.get("message")
        return localized(stored) if stored else problem.get("text", "")
    return localized(problem.text)
