"""Playing a voicemail recording from the journal (only for the users who may hear it)."""
from __future__ import annotations

import io

from flask import abort, send_file
from flask_login import current_user

from .. import voicemail
from ..extensions import db
from ..models import Call
from . import bp


@bp.get("/<int:call_pk>/voicemail", endpoint="voicemail")
def play_voicemail(call_pk: int):
    """The stored recording of a call: 404 when there is none, 403 for users who may not hear it."""
    call = db.get_or_404(Call, call_pk)
    if call.voicemail is None:
        abort(404)
    if not voicemail.may_hear(current_user, call):
        abort(403)
    path = voicemail.path_of(call.voicemail)
    if not path.is_file():
        abort(404)
    # Served from memory (at most VOICEMAIL_MAX_BYTES): a 304 or an aborted range request of a
    # browser's player would otherwise leave the open file to the garbage collector.
    response = send_file(io.BytesIO(path.read_bytes()), mimetype=call.voicemail.content_type, conditional=True,
                         etag=False, last_modified=call.voicemail.stored_at, max_age=0,
                         download_name=f"voicemail-{call.id}{path.suffix}")
    response.headers["Cache-Control"] = "private, no-store"
    return response
