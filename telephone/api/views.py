"""JSON API for other programs: who does a phone number belong to (`GET /api/v1/lookup`)."""
from __future__ import annotations

import hmac

from flask import Response, abort, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user

from .. import database, device_access, numbers, public, site_settings
from . import bp


def _authorised() -> bool:
    """A logged-in session, or `Authorization: Bearer <api.token>` (compared in constant time)."""
    if current_user.is_authenticated and not current_user.must_change_password:
        return True
    scheme, _space, presented = request.headers.get("Authorization", "").partition(" ")
    expected = site_settings.get("api.token")
    if scheme.lower() != "bearer" or not expected or not presented.strip():
        return False
    return hmac.compare_digest(presented.strip().encode(), expected.encode())


@bp.get("/lookup")
@public  # authorised inside: session or API token
def lookup():
    """`{"number": E164, "matches": [{"kind", "name", "company", "url"}, …]}` for `?number=`."""
    if not _authorised():
        response = jsonify(error=_("Anmeldung oder gültiger API-Token erforderlich."))
        response.headers["WWW-Authenticate"] = 'Bearer realm="telephone"'
        return response, 401
    number = request.args.get("number", "").strip()
    if not number:
        return jsonify(error=_("Bitte die Rufnummer im Parameter „number“ angeben.")), 400
    result = numbers.lookup_caller(number)
    if result.e164 is None:
        return jsonify(error=_("„%(number)s“ ist keine gültige Rufnummer.", number=number)), 400
    return jsonify(number=result.e164, matches=[match.public() for match in result.matches])


@bp.get("/cid")
@public  # PBXs ask while the call rings: the directory token in the URL authorises
def cid():
    """The caller's display name as plain text (empty for an unknown number); 404 for a wrong token.

    A PBX asks while the call rings: its reads need no transaction (on PostgreSQL that saves the
    BEGIN and ROLLBACK round trips), and its one write, the last access, is a single statement.
    """
    database.statements_commit_themselves()
    if not device_access.token_valid(request.args.get("token"), "caller-name lookup", request.remote_addr):
        abort(404)
    device_access.record_access("cid", request.remote_addr, request.user_agent.string)
    result = numbers.lookup_caller(request.args.get("number", "")[:64])
    name = numbers.display_name(result.matches[0]) if result.matches else ""
    return Response(name, content_type="text/plain; charset=utf-8")
