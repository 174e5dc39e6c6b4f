"""Call Control: block list, routing rules, Placetel's XML, the webhook's answer, the admin page and the CLI."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from telephone import block_list, routing, site_settings
from telephone.extensions import db
from telephone.models import Address, BlockedNumber, Call, CallEvent, RoutingRule, User
from telephone.numbers import index_numbers

from .calls_helpers import configure, post_notify
from .conftest import make_user

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_10 = datetime(2026, 11, 30, 10, 0, tzinfo=BERLIN)
CUSTOMER = "+4961311234567"
OUR_NUMBER = "+49221999000"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


@pytest.fixture
def office(app):
    """Anna (SIP 777111222) manages the customer Müller GmbH (tag VIP); Ben has no phone."""
    anna = make_user(app, "anna", display_name="Anna Schmidt")
    make_user(app, "ben", display_name="Ben Braun")
    configure(app, accounts="anna:777111222@fpbx.de")
    with app.app_context():
        customer = Address(kind="company", name="Müller GmbH", account_manager_id=anna, tags="VIP, Stammkunde")
        supplier = Address(kind="company", name="Lieferant AG", tags="Lieferant")
        db.session.add_all([customer, supplier])
        db.session.flush()
        index_numbers(customer, [("phone", "06131 1234567")])
        index_numbers(supplier, [("phone", "089 7654321")])
        db.session.commit()
    return app


def add_rule(app, **fields) -> int:
    with app.app_context():
        rule = routing.new_rule()
        for name, value in {"name": "Regel", "action": "hangup", **fields}.items():
            setattr(rule, name, value)
        assert routing.rule_errors(rule) == {}, routing.rule_errors(rule)
        db.session.add(rule)
        db.session.commit()
        return rule.id


def decide(app, caller=CUSTOMER, to=OUR_NUMBER, when=MONDAY_10):
    with app.test_request_context():
        return routing.decide(caller, to, when)


def element(decision) -> ET.Element:
    root = ET.fromstring(decision.xml)
    assert decision.xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert root.tag == "Response" and len(root) == 1
    return root[0]


def same_tree(actual: ET.Element, expected: str) -> bool:
    """Element by element: tags, attributes, texts and children (whitespace between elements ignored)."""
    def shape(node):
        return (node.tag, dict(node.attrib), (node.text or "").strip(), [shape(child) for child in node])
    return shape(actual) == shape(ET.fromstring(expected))


# --------------------------------------------------------------------------- the XML of each action


@pytest.mark.parametrize("fields, expected", [
    ({"action": "forward", "targets": "anna\n022129191999", "ringtime": 30},
     '<Forward voicemail="false"><Target ringtime="30"><Number>777111222@fpbx.de</Number>'
     '<Number>+4922129191999</Number></Target></Forward>'),
    ({"action": "forward", "targets": "7777abcdefg@fpbx.de", "voicemail_after": True},
     '<Forward voicemail="true"><Target ringtime="20"><Number>7777abcdefg@fpbx.de</Number></Target></Forward>'),
    ({"action": "voicemail", "object_id": "4"}, '<Forward voicemail="true" voicemail_announcement="4"/>'),
    ({"action": "voicemail"}, '<Forward voicemail="true"/>'),
    ({"action": "reject"}, '<Reject reason="busy"/>'),
    ({"action": "hangup"}, "<Hangup/>"),
    ({"action": "prompt", "object_id": "123"}, '<Prompt id="123"/>'),
    ({"action": "group", "object_id": "123"}, '<Group id="123"/>'),
    ({"action": "routing_plan", "object_id": "123"}, '<RoutingPlan id="123"/>'),
])
def test_each_action_answers_placetels_documented_xml(office, fields, expected):
    add_rule(office, name="Test", **fields)
    assert same_tree(element(decide(office)), expected)


def test_account_manager_rings_first_then_the_fallback(office):
    add_rule(office, name="Kundenbetreuung", caller="managed", action="account_manager", targets="022129191999",
             ringtime=15)
    decision = decide(office)
    assert same_tree(element(decision), '<Forward voicemail="false"><Target ringtime="15"><Number>777111222@fpbx.de'
                                        '</Number></Target><Target ringtime="60"><Number>+4922129191999</Number>'
                                        '</Target></Forward>')
    assert decision.note == "Kundenbetreuung: weitergeleitet an Anna Schmidt (Kundenbetreuung), dann an 022129191999"
    assert decide(office, caller="+49897654321") is None  # the supplier has no account manager


# --------------------------------------------------------------------------- conditions


def test_caller_conditions(office):
    add_rule(office, name="anonym", caller="anonymous", action="reject")
    add_rule(office, name="bekannt", caller="known", action="group", object_id="1")
    add_rule(office, name="unbekannt", caller="unknown", action="group", object_id="2")
    assert decide(office, caller="anonymous").rule.name == "anonym"
    assert decide(office, caller="").rule.name == "anonym"
    assert decide(office, caller="06131 1234567").rule.name == "bekannt"
    assert decide(office, caller="+49613112345671").rule.name == "bekannt"  # an extension of the main number
    assert decide(office, caller="030 555555").rule.name == "unbekannt"


def test_tag_dialled_number_and_first_match_wins(office):
    add_rule(office, name="VIP", tag="vip", action="group", object_id="1")
    add_rule(office, name="Vertrieb", dialled="+49221999001", action="group", object_id="2")
    add_rule(office, name="alle", action="group", object_id="3")
    assert decide(office).rule.name == "VIP"
    assert decide(office, caller="+49897654321", to="0221 999001").rule.name == "Vertrieb"
    assert decide(office, caller="+49897654321").rule.name == "alle"
    with office.app_context():
        db.session.get(RoutingRule, 1).enabled = False
        db.session.commit()
    assert decide(office).rule.name == "alle"


def test_no_rule_or_no_match_leaves_the_call_to_placetel(office):
    assert decide(office) is None
    add_rule(office, name="nachts", time_from="22:00", time_to="06:00", action="voicemail")
    assert decide(office) is None  # Monday 10:00
    assert decide(office, when=at("2026-11-30T23:30")).rule.name == "nachts"  # over midnight
    assert decide(office, when=at("2026-12-01T05:59")).rule.name == "nachts"
    assert decide(office, when=at("2026-12-01T06:00")) is None


def test_office_hours_by_weekday_and_time(office):
    add_rule(office, name="Geschäftszeit", weekdays="01234", time_from="08:00", time_to="18:00", action="group",
             object_id="1")
    add_rule(office, name="außerhalb", action="voicemail", object_id="7")
    assert decide(office).rule.name == "Geschäftszeit"
    assert decide(office, when=at("2026-11-30T18:00")).rule.name == "außerhalb"
    assert decide(office, when=at("2026-12-05T10:00")).rule.name == "außerhalb"  # Saturday


def test_a_rule_until_23_59_covers_the_last_minute_of_the_day(office):
    add_rule(office, name="abends", time_from="18:00", time_to="23:59", action="voicemail")
    assert decide(office, when=at("2026-11-30T23:59:45")).rule.name == "abends"
    assert decide(office, when=at("2026-11-30T23:58:30")).rule.name == "abends"
    assert decide(office, when=at("2026-12-01T00:00:05")) is None


def test_holidays_christmas_eve_and_state_specific(office):
    add_rule(office, name="Feiertag", holidays="only", action="voicemail", object_id="9")
    add_rule(office, name="Arbeitstag", holidays="not", action="group", object_id="1")
    assert decide(office, when=at("2026-12-25T10:00")).rule.name == "Feiertag"  # nationwide
    assert decide(office, when=at("2026-12-24T18:00")).rule.name == "Feiertag"  # the office closes
    assert decide(office, when=at("2026-01-06T10:00")).rule.name == "Arbeitstag"  # Epiphany: not nationwide
    with office.app_context():
        site_settings.set_value("routing.holiday_state", "BY")
        site_settings.set_value("routing.christmas_eve_closed", "0")
        db.session.commit()
    assert decide(office, when=at("2026-01-06T10:00")).rule.name == "Feiertag"  # Heilige Drei Könige in Bayern
    assert decide(office, when=at("2026-12-24T18:00")).rule.name == "Arbeitstag"


def test_company_holidays_date_range(office):
    add_rule(office, name="Betriebsferien", date_from=date(2026, 12, 27), date_to=date(2027, 1, 2),
             action="voicemail", object_id="5")
    assert decide(office, when=at("2026-12-28T10:00")).rule.name == "Betriebsferien"
    assert decide(office, when=at("2027-01-02T23:00")).rule.name == "Betriebsferien"
    assert decide(office, when=at("2027-01-04T10:00")) is None


def test_a_rule_with_nobody_to_ring_lets_the_next_rule_decide(office):
    add_rule(office, name="Betreuer", action="account_manager")
    add_rule(office, name="Zentrale", action="group", object_id="1")
    assert decide(office).rule.name == "Betreuer"
    assert decide(office, caller="+49897654321").rule.name == "Zentrale"


# --------------------------------------------------------------------------- block list


def test_block_list_numbers_and_prefixes_are_rejected_before_any_rule(office):
    add_rule(office, name="alle", action="group", object_id="1")
    with office.app_context():
        block_list.add("0900*", "Mehrwertdienste")
        block_list.add("+49 30 5555555", "Werbung")
        db.session.commit()
    for caller in ("0900 1234567", "+49305555555"):
        decision = decide(office, caller=caller)
        assert decision.blocked and decision.note == "gesperrt"
        assert same_tree(element(decision), '<Reject reason="busy"/>')
    assert decide(office, caller="+49305555556").rule.name == "alle"


def test_block_list_also_catches_callers_whose_number_is_not_valid(office):
    """Spam often comes from numbers phonenumbers calls invalid: the prefix still blocks them."""
    with office.app_context():
        block_list.add("0900*", "Mehrwertdienste")
        db.session.commit()
    decision = decide(office, caller="0900 0001234")
    assert decision is not None and decision.blocked


@pytest.mark.parametrize("text, message", [("", "Bitte eine Rufnummer"), ("09*", "zu kurz"), ("abc", "keine gültige"),
                                           ("09x*", "kein Nummernanfang")])
def test_block_list_refuses_what_is_no_number(app, text, message):
    with app.test_request_context(), pytest.raises(block_list.InvalidBlockEntry, match=message):
        block_list.add(text)


# --------------------------------------------------------------------------- the webhook


def incoming(call_id="c0ffee01", caller="06131 1234567", to="0221999000"):
    return urlencode({"call_id": call_id, "direction": "in", "event": "IncomingCall", "from": caller, "to": to})


def test_webhook_answers_the_rules_xml_and_the_journal_says_what_happened(client, office):
    add_rule(office, name="Kundenbetreuung", caller="managed", action="account_manager")
    response = post_notify(client, incoming())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
    assert same_tree(ET.fromstring(response.data)[0], '<Forward voicemail="false"><Target ringtime="20"><Number>'
                                                      '777111222@fpbx.de</Number></Target></Forward>')
    repeat = post_notify(client, incoming())  # Placetel retries: the same answer, stored once
    assert repeat.data == response.data
    with office.app_context():
        call = db.session.scalar(select(Call))
        assert call.routing_note == "Kundenbetreuung: weitergeleitet an Anna Schmidt (Kundenbetreuung)"
        assert db.session.scalar(select(db.func.count(CallEvent.id))) == 1
    auth_client = office.test_client()
    auth_client.post("/login", data={"username": "anna", "password": "geheim-123"})
    assert "weitergeleitet an Anna Schmidt (Kundenbetreuung)" in auth_client.get("/calls/").text


def test_webhook_without_a_matching_rule_answers_plain_ok(client, office):
    response = post_notify(client, incoming())
    assert (response.status_code, response.headers["Content-Type"], response.text) == (
        200, "text/plain; charset=utf-8", "OK")


def test_blocked_caller_is_rejected_and_shown_as_blocked(client, office):
    with office.app_context():
        block_list.add("06131 1234567", "Werbung")
        db.session.commit()
    response = post_notify(client, incoming())
    assert same_tree(ET.fromstring(response.data)[0], '<Reject reason="busy"/>')
    post_notify(client, urlencode({"call_id": "c0ffee01", "direction": "in", "event": "HungUp", "type": "missed",
                                   "duration": "0", "from": "06131 1234567", "to": "0221999000"}))
    with office.app_context():
        call = db.session.scalar(select(Call))
        assert (call.status, call.routing_note) == ("blocked", "gesperrt")


def test_bad_signature_is_refused_before_any_rule_runs(client, office, monkeypatch):
    calls = []
    monkeypatch.setattr(routing, "decide", lambda *args, **kwargs: calls.append(args))
    add_rule(office, name="alle", action="hangup")
    assert post_notify(client, incoming(), signature="0" * 64).status_code == 403
    assert post_notify(client, incoming(), secret=None).status_code == 403
    assert calls == []


def test_routing_fault_or_slowness_falls_back_to_placetel(client, office, monkeypatch):
    add_rule(office, name="alle", action="hangup")

    def broken(*_args):
        raise RuntimeError("boom")

    monkeypatch.setattr(routing, "decide", broken)
    response = post_notify(client, incoming())
    assert (response.status_code, response.text) == (200, "OK")
    monkeypatch.undo()
    office.config["ROUTING_BUDGET_MS"] = 0
    response = post_notify(client, incoming(call_id="c0ffee02"))
    assert (response.status_code, response.text) == (200, "OK")


def test_outgoing_and_later_events_are_never_routed(client, office, monkeypatch):
    calls = []
    monkeypatch.setattr(routing, "decide", lambda *args, **kwargs: calls.append(args))
    post_notify(client, urlencode({"call_id": "abc12345", "direction": "out", "event": "OutgoingCall",
                                   "from": "0221999000", "to": "06131 1234567", "peer": "777111222@fpbx.de"}))
    assert calls == []


# --------------------------------------------------------------------------- the admin page


def rule_form(**fields) -> dict:
    return {"name": "Regel", "caller": "any", "holidays": "any", "action": "forward", "ringtime": "20",
            "enabled": "y", **fields}


def test_rule_pointing_at_a_user_without_phone_is_refused_with_the_reason(client, auth, office):
    auth.login("chefin", admin=True)
    response = client.post("/settings/routing/rules/new", data=rule_form(name="Ben", targets="ben"))
    assert response.status_code == 422
    assert "„ben“ hat kein Telefon (SIP-Konto) zugeordnet." in response.text
    assert 'value="Ben"' in response.text  # what was typed stays
    empty = client.post("/settings/routing/rules/new", data=rule_form(targets=""))
    assert "Bitte mindestens ein Ziel eingeben" in empty.text
    group = client.post("/settings/routing/rules/new", data=rule_form(action="group", object_id=""))
    assert "Bitte die Nummer (ID) aus dem Placetel-Portal eingeben." in group.text
    times = client.post("/settings/routing/rules/new", data=rule_form(targets="anna", time_from="25:00"))
    assert "Bitte eine Uhrzeit als HH:MM eingeben" in times.text
    with office.app_context():
        assert db.session.scalar(select(db.func.count(RoutingRule.id))) == 0


def test_admin_creates_orders_tests_and_deletes_rules(client, auth, office):
    auth.login("chefin", admin=True)
    response = client.post("/settings/routing/rules/new", data=rule_form(
        name="Abends", action="voicemail", object_id="4", weekdays=["0", "1", "2", "3", "4"], time_from="18:00",
        time_to="23:59"), follow_redirects=True)
    assert "Regel „Abends“ gespeichert." in response.text
    client.post("/settings/routing/rules/new", data=rule_form(name="Anna", targets="anna\n0221 29191999"))
    page = client.get("/settings/routing").text
    assert page.index("Abends") < page.index(">Anna<")
    assert "Mo,Di,Mi,Do,Fr, 18:00–23:59 Uhr" in page
    with office.app_context():
        anna_rule = db.session.scalar(select(RoutingRule).filter_by(name="Anna"))
    client.post(f"/settings/routing/rules/{anna_rule.id}/move", data={"direction": "up"})
    page = client.get("/settings/routing").text
    assert page.index(">Anna<") < page.index("Abends")

    result = client.get("/settings/routing/test", query_string={"number": "030 123456", "to": "",
                                                                "at": "2026-12-01 19:00"})
    assert "Anna: weitergeleitet an Anna Schmidt, 0221 29191999" in result.text
    assert "&lt;Number&gt;777111222@fpbx.de&lt;/Number&gt;" in result.text
    bad = client.get("/settings/routing/test", query_string={"number": "1", "at": "morgen"})
    assert "ist kein Zeitpunkt" in bad.text

    client.post(f"/settings/routing/rules/{anna_rule.id}/delete")
    assert ">Anna<" not in client.get("/settings/routing").text


def test_routing_pages_are_for_admins_but_everyone_may_block_a_caller(client, auth, office):
    auth.login("ben", create=False)
    assert client.get("/settings/routing").status_code == 403
    assert client.post("/settings/routing/rules/new", data=rule_form()).status_code == 403
    response = client.post("/calls/block", data={"number": "030 666666"}, headers={"HX-Request": "true"})
    assert response.status_code == 200 and "gesperrt" in response.text
    refused = client.post("/calls/block", data={"number": "anonymous"}, headers={"HX-Request": "true"})
    assert refused.status_code == 422 and "keine gültige Rufnummer" in refused.text
    with office.app_context():
        entry = db.session.scalar(select(BlockedNumber))
        assert (entry.number, entry.created_by.username) == ("+4930666666", "ben")


def test_account_manager_without_phone_is_refused_on_the_address(client, auth, office):
    auth.login("anna", create=False)
    with office.app_context():
        ben = db.session.scalar(select(User.id).filter_by(username="ben"))
        anna = db.session.scalar(select(User.id).filter_by(username="anna"))
    response = client.post("/addresses/new", data={"kind": "company", "name": "Neu GmbH", "country": "DE",
                                                   "account_manager_id": str(ben), "tags": "VIP"})
    assert response.status_code == 422
    assert "Ben Braun hat kein Telefon (SIP-Konto) zugeordnet." in response.text
    ok = client.post("/addresses/new", data={"kind": "company", "name": "Neu GmbH", "country": "DE",
                                             "account_manager_id": str(anna), "tags": "VIP ,  Lieferant"},
                     follow_redirects=True)
    assert "Kundenbetreuer: Anna Schmidt" in ok.text and "Gruppen: VIP, Lieferant" in ok.text


# --------------------------------------------------------------------------- command line


def test_cli_block_test_and_list(runner, office):
    result = runner.invoke(args=["routing", "block", "0900*", "--reason", "Mehrwertdienste"])
    assert result.exit_code == 0 and "Gesperrt: +49900*" in result.output
    assert runner.invoke(args=["routing", "block", "kaputt"]).exit_code != 0
    blocked = runner.invoke(args=["routing", "test", "09001234567"])
    assert blocked.output.strip() == '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy" /></Response>'
    assert runner.invoke(args=["routing", "test", "030 123456"]).output == ""
    add_rule(office, name="Heiligabend", holidays="only", action="voicemail", object_id="3")
    evening = runner.invoke(args=["routing", "test", "030 123456", "--at", "2026-12-24 18:00"])
    assert same_tree(ET.fromstring(evening.output.strip())[0], '<Forward voicemail="true" voicemail_announcement="3"/>')
    assert runner.invoke(args=["routing", "test", "030 123456", "--at", "2026-12-23 18:00"]).output == ""
    assert runner.invoke(args=["routing", "test", "1", "--at", "gestern"]).exit_code != 0
    listing = runner.invoke(args=["routing", "list"])
    assert "1. Heiligabend: wenn an Feiertagen → Mailbox" in listing.output
