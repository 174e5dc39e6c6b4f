"""Calls: click-to-dial, the Placetel webhook, the call journal, live banners and phone notes."""
from . import bp  # noqa: F401
