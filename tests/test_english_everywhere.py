"""An English user sees no German: every page, the main 422 answers and flash messages.

The German texts of the catalog (translations/en/LC_MESSAGES/messages.po) and a list of
common German UI words are searched in the visible text of every page an English admin
can open, with a realistic data set behind them (sync runs with messages, calls of
every status, routing rules, …).
"""
from __future__ import annotations

import html
import os
import re
from datetime import timedelta

import pytest
from babel.messages.pofile import read_po

from telephone import ROOT, messages, placetel, site_settings
from telephone.extensions import db
from telephone.models import (
    Address,
    BlockedNumber,
    Call,
    CallStatus,
    ContactPerson,
    ContactPushRun,
    NumberAssignment,
    OfficeNumber,
    PhonebookEntry,
    PhoneNote,
    RoutingRule,
    SipAccount,
    SyncSource,
    User,
    utcnow,
)

from .conftest import make_user
from .phonebook_helpers import HEADER, add_source, sync

PO = os.path.join(ROOT, "translations", "en", "LC_MESSAGES", "messages.po")

# Whole words that are German UI words and never English ones.
GERMAN_WORDS = (
    "Bitte", "bitte", "nicht", "Nummer", "Nummern", "gespeichert", "Einstellungen", "löschen", "Löschen",
    "gelöscht", "Fehler", "Synchronisation", "Datei", "keine", "Keine", "kein", "wurde", "wurden", "ungültig",
    "Zeile", "Eintrag", "Einträge", "Einträgen", "Meldung", "Meldungen", "und", "oder", "der", "die", "das",
    "ist", "sind", "mit", "für", "Für", "von", "bei", "Anmeldung", "Benutzer", "Passwort", "Adresse",
    "Adressen", "Telefonbuch", "Anruf", "Anrufe", "Anrufliste", "Schnittstelle", "Quelle", "Regel", "Regeln",
    "gesperrt", "weitergeleitet", "angenommen", "verpasst", "besetzt", "beendet", "abgebrochen", "Mailbox-Ansage",
    "Speichern", "Abbrechen", "Zurück", "neu", "geändert", "unverändert", "erfolgreich", "fehlgeschlagen",
    "Verbindung", "angeben", "prüfen", "Datensätze", "Spalte", "Kopfzeile", "erkannt", "Sekunden", "Minuten",
    "Zeitüberschreitung", "Uhr", "heute", "gestern", "Montag", "Sonntag", "täglich", "stündlich", "wöchentlich",
)
# Catalog ids that are also ordinary English (or names) and so prove nothing when found.
NOT_GERMAN = {"Name", "Status", "Fax", "Yealink", "Snom", "Mobil", "Login", "Tag", "Tags", "Start", "Test",
              "Details", "Info", "Grandstream", "Fanvil", "Gigaset", "Mailbox", "Chef", "SIP", "Firma"}
# The data set's own texts are German (an office's data): they may be shown as they are.
DATA_TEXTS = ("Müller Bau GmbH", "Hauptstraße 1", "Geschäftsführer", "Rückruf wegen Angebot",
              "Bitte Angebot schicken", "Zentrale", "Kundenbetreuung", "Werbeanrufe", "Nachts",
              "Telefonbuch Büro", "Erika Mustermann", "Anna Admin",
              # a keyword of the address file format, quoted as such in the import help
              "“Ansprechpartner”")


# --------------------------------------------------------------------------- the catalog


def _placeholder_pattern(msgid: str) -> re.Pattern:
    """A regex for a German message as it appears in text: %(name)s placeholders match anything."""
    parts = re.split(r"%\([a-z_]+\)[sd]|%[sd]", msgid)
    body = r".{1,80}?".join("".join(r"\s+" if chunk.isspace() else re.escape(chunk)
                                    for chunk in re.split(r"(\s+)", part) if chunk) for part in parts)
    prefix = r"(?<!\w)" if msgid[:1].isalnum() else ""
    suffix = r"(?!\w)" if msgid[-1:].isalnum() else ""
    return re.compile(prefix + body + suffix)


def _german_looking(msgid: str, english: str) -> bool:
    if msgid == english or msgid in NOT_GERMAN:
        return False
    words = re.findall(r"[A-Za-zÄÖÜäöüß]{3,}", re.sub(r"%\([a-z_]+\)[sd]|<[^>]+>", " ", msgid))
    if not words:
        return False
    english_words = set(re.findall(r"[A-Za-z]+", english))
    # at least one word that the English text does not share (a name is the same in both)
    return any(word not in english_words for word in words)


def german_catalog() -> list[tuple[str, re.Pattern]]:
    """(German id, pattern) for every catalog message whose English differs and looks German."""
    with open(PO, "rb") as file:
        catalog = read_po(file)
    found = []
    for message in catalog:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for msgid in ids:
            english = " ".join(strings)
            if not _german_looking(msgid, english):
                continue
            # Skip pure placeholders and very short fragments (e.g. "%(count)s neu").
            fixed = re.sub(r"%\([a-z_]+\)[sd]", "", msgid).strip(" :.,–-")
            if len(fixed) < 4:
                continue
            found.append((msgid, _placeholder_pattern(msgid)))
    return found


CATALOG = german_catalog()
WORD_PATTERNS = [(word, re.compile(r"(?<![\wÄÖÜäöüß])" + re.escape(word) + r"(?![\wÄÖÜäöüß])"))
                 for word in GERMAN_WORDS]


# --------------------------------------------------------------------------- visible text

_ATTRIBUTES = re.compile(r'\s(?:placeholder|title|aria-label|hx-confirm|data-confirm|alt)="([^"]*)"')


def visible_text(page: str) -> str:
    """The text a person can read on a page: element text plus titles, placeholders and confirmations."""
    page = re.sub(r"<(script|style|template)\b.*?</\1>", " ", page, flags=re.S | re.I)
    page = re.sub(r"<!--.*?-->", " ", page, flags=re.S)
    attributes = " | ".join(_ATTRIBUTES.findall(page))
    text = re.sub(r"<[^>]+>", " ", page)
    text = html.unescape(text + " | " + html.unescape(attributes))
    for data in DATA_TEXTS:
        text = text.replace(data, " ")
    return re.sub(r"\s+", " ", text)


def german_findings(where: str, page: str) -> list[str]:
    """Each German catalog text and German word in the visible text of `page`, with some context."""
    text = visible_text(page)
    findings = []
    for msgid, pattern in CATALOG:
        match = pattern.search(text)
        if match:
            findings.append(f"{where}: catalog {msgid!r} in …{text[max(0, match.start() - 40):match.end() + 40]}…")
    for word, pattern in WORD_PATTERNS:
        match = pattern.search(text)
        if match:
            findings.append(f"{where}: word {word!r} in …{text[max(0, match.start() - 60):match.end() + 60]}…")
    return findings


# --------------------------------------------------------------------------- the data set

BAD_CSV = (HEADER + "\n"
           "1,Erika Mustermann,Mustermann,Erika,,female,WORK:+496131123456,,WORK:erika@example.com\n"
           "2,,,,,,WORK:+4961311235,,\n"
           "3,Max Muster,Muster,Max,,male,WORK:0171 123456,,max@example\n"
           "4,Zu viel,,,,,,,,x,y\n")
GOOD_CSV = (HEADER + ",Abteilung\n"
            "1,Erika Mustermann,Mustermann,Erika,Dr.,female,WORK:06131 123456,MOBILE:0171 9999999,WORK:erika@example.com,x\n"
            "2,Max Muster,Muster,Max,,male,WORK:+4961311235,,\n"
            "3,Lieferant Nord,,,,,WORK:n/a,,\n")


def build_data_set(app) -> dict:
    """Addresses, phonebook entries, a CSV source with a failed and a successful run, calls, rules."""
    admin_id = make_user(app, "admin", admin=True, locale="en", display_name="Anna Admin")
    source_id = add_source(app, name="Telefonbuch Büro", url="https://files.example.com/phonebook.csv")
    sync(app, source_id, BAD_CSV)
    sync(app, source_id, GOOD_CSV)
    with app.app_context():
        admin = db.session.get(User, admin_id)
        admin.sip_account = SipAccount(sipuid="777111222@fpbx.de")
        office = OfficeNumber(e164="+4961311230", name="Zentrale")
        db.session.add(office)
        db.session.flush()
        db.session.add(NumberAssignment(office_number_id=office.id, user_id=admin.id))
        company = Address(kind="company", name="Müller Bau GmbH", street="Hauptstraße 1", postcode="55116",
                          city="Mainz", phone="06131 555000", email="info@example.com", tags="VIP",
                          account_manager_id=admin.id)
        company.contacts.append(ContactPerson(name="Peter Müller", role="Geschäftsführer", phone="06131 555001"))
        person = Address(kind="person", name="Klara Klein", phone="0171 2223334")
        manual = PhonebookEntry(display_name="Hausmeister Schmidt", sort_name="hausmeister schmidt",
                                phones=[{"type": "WORK", "number": "06131 777"}])
        db.session.add_all([company, person, manual])
        db.session.flush()
        now = utcnow()
        calls = []
        for index, status in enumerate(CallStatus):
            call = Call(call_id=f"call-{index}", direction="out" if status.value.startswith("dial") else "in",
                        from_number="+4961315550" + str(index), to_number="+4961311230",
                        remote_e164="+4961315550" + str(index), status=status.value, peer="777111222@fpbx.de",
                        started_at=now - timedelta(minutes=index * 7), user_id=admin.id,
                        duration=42 if status == CallStatus.ENDED else None,
                        outcome="Telefon klingelt" if status == CallStatus.DIALLING else "",
                        routing_note="gesperrt" if status == CallStatus.BLOCKED else "",
                        matches=[{"kind": "address", "name": "Müller Bau GmbH", "company": "",
                                  "url": f"/addresses/{company.id}"}] if index % 2 else [])
            calls.append(call)
        forwarded = messages.gettext("%(rule)s: %(action)s", rule="Kundenbetreuung", action=messages.gettext(
            "weitergeleitet an %(manager)s (Kundenbetreuung)", manager="Anna Admin"))
        calls[0].routing_note, calls[0].routing_message = forwarded, messages.to_stored(forwarded)
        db.session.add_all(calls)
        db.session.flush()
        note = PhoneNote(subject="Rückruf wegen Angebot", text="Bitte Angebot schicken", call_pk=calls[2].id,
                         address_id=company.id, number="+4961315550" + "2", author_id=admin.id)
        db.session.add(note)
        db.session.add(RoutingRule(position=1, name="Nachts", caller="any", weekdays="01234", time_from="18:00",
                                   time_to="08:00", action="voicemail", object_id="123"))
        db.session.add(RoutingRule(position=2, name="Kundenbetreuung", caller="managed", action="account_manager",
                                   targets="admin"))
        db.session.add(BlockedNumber(number="+49900", is_prefix=True, reason="Werbeanrufe", created_by_id=admin.id))
        refused = placetel.TokenRefused(401)  # a push in the background failed: stored in German
        db.session.add(ContactPushRun(trigger="sync", status="failed", finished_at=now, error=str(refused),
                                      error_message=messages.to_stored(refused.args[0])))
        db.session.commit()
        site_settings.set_value("placetel.api_token", "t" * 32)
        site_settings.set_value("placetel.shared_secret", "12345")
        site_settings.set_value("phones.directory_token", "d" * 32)
        db.session.commit()
        return {"address_id": company.id, "contact_id": company.contacts[0].id, "user_id": admin.id,
                "entry_id": manual.id, "synced_entry_id": db.session.query(PhonebookEntry.id)
                .filter(PhonebookEntry.source_id == source_id).first()[0],
                "source_id": source_id, "note_id": note.id, "call_pk": calls[0].id,
                "rule_id": db.session.query(RoutingRule.id).first()[0],
                "entry_id_blocked": db.session.query(BlockedNumber.id).first()[0]}


SKIPPED = ("/events", "/static", "/directory", "/api/", "/healthz", "/favicon.ico", "/addresses/export.csv")
ARGUMENTS = {"address_id": "address_id", "contact_id": "contact_id", "user_id": "user_id",
             "entry_id": "entry_id", "source_id": "source_id", "note_id": "note_id", "call_pk": "call_pk",
             "rule_id": "rule_id"}


def page_urls(app, data: dict) -> list[str]:
    """Every GET page of the app: rules without arguments, and those with arguments from the data set."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(SKIPPED):
            continue
        if rule.arguments - set(ARGUMENTS):
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = re.sub(r"<(?:int:)?" + argument + ">", str(data[ARGUMENTS[argument]]), url)
        urls.append(url)
        if rule.endpoint == "phonebook.detail":
            urls.append(url.replace(str(data["entry_id"]), str(data["synced_entry_id"])))
    return sorted(set(urls))


@pytest.fixture
def english_admin(app, client, auth):
    data = build_data_set(app)
    assert auth.login("admin").status_code == 302
    return data


def test_the_catalog_check_finds_german(app):
    """The check itself: German texts are found, English ones are not."""
    assert len(CATALOG) > 200
    assert german_findings("x", "<p>Synchronisation läuft bereits.</p>")
    assert german_findings("x", '<input placeholder="Bitte wählen">')
    assert german_findings("x", "<p>Eintrag „Max“ gespeichert.</p>")
    assert not german_findings("x", "<p>Entry “Max” saved.</p><script>var nicht = 1;</script>")


def test_every_page_is_english(app, client, english_admin):
    findings = []
    urls = page_urls(app, english_admin)
    assert len(urls) > 25
    for url in urls:
        response = client.get(url)
        assert response.status_code < 500, url
        if response.status_code == 200 and response.mimetype == "text/html":
            findings += german_findings(url, response.text)
            for english in ENGLISH_ON.get(url, ()):
                assert english in html.unescape(response.text), (url, english)
    # The pages HTMX loads into them
    for url in ("/addresses/?q=M%C3%BCller", "/phonebook/?q=Erika", "/calls/?status=missed",
                "/calls/notes/targets?q=M%C3%BCl", f"/phonebook/sources/{english_admin['source_id']}?run=1"):
        response = client.get(url, headers={"HX-Request": "true"})
        findings += german_findings(url, response.text)
    assert not findings, "\n".join(findings)


ENGLISH_ON = {
    "/calls/": ("Kundenbetreuung: forwarded to Anna Admin (account manager)", "blocked"),
    "/settings/routing": ("Mon,Tue,Wed,Thu,Fri, 18:00–08:00", "address with an account manager",
                          "forward to the account manager"),
    "/phonebook/sources": ("CSV file",),
    "/settings/devices": ("Placetel rejected the API token (invalid or insufficient permissions).",),
}


def test_stored_sync_messages_follow_the_reader(app, client, auth, english_admin):
    """Run messages are stored once, in German, and shown in each reader's language (with plurals)."""
    page = client.get(f"/phonebook/sources/{english_admin['source_id']}").text
    for english in ("Line 5: The line has 11 fields, the header line only 9 – please check the delimiter (comma)",
                    "Line 1: Unknown column “abteilung” is ignored.",
                    "2 numbers were not in E.164 format (+496131123456) and were converted: "
                    "06131 123456 → +496131123456 (line 2); 0171 9999999 → +491719999999 (line 2).",
                    "Line 4: Number “n/a” not recognised", "3 messages", "3 entries", "CSV file"):
        assert english in html.unescape(page)
    auth.logout()
    make_user(app, "greta", admin=True)
    auth.login("greta")
    page = html.unescape(client.get(f"/phonebook/sources/{english_admin['source_id']}").text)
    for german in ("Zeile 5: Die Zeile hat 11 Felder, die Kopfzeile nur 9 – Trennzeichen (Komma)",
                   "Zeile 1: Unbekannte Spalte „abteilung“ wird ignoriert.",
                   "2 Nummern waren nicht im Format E.164", "(Zeile 2)", "3 Meldungen", "3 Einträge", "CSV-Datei"):
        assert german in page


def test_plurals_are_real_plurals(app, client, auth):
    """One message, one entry, one record: singular in both languages."""
    make_user(app, "admin", admin=True, locale="en")
    source_id = add_source(app, name="Eins")
    sync(app, source_id, HEADER + "\n1,Erika Mustermann,Mustermann,Erika,,female,WORK:06131 123456,,\n")
    auth.login("admin")
    page = html.unescape(client.get(f"/phonebook/sources/{source_id}").text)
    assert "1 message" in page and "1 entry" in page and "1 number was not in E.164 format" in page
    assert "1 messages" not in page and "1 entries" not in page
    assert "1 entry" in html.unescape(client.get("/phonebook/sources").text)
    deleted = client.post(f"/phonebook/sources/{source_id}/delete", follow_redirects=True)
    assert "Source “Eins” and its 1 entry deleted." in html.unescape(deleted.text)
    with app.app_context():
        from telephone.sync import engine
        outcome = engine.SyncOutcome(run_id=0, ok=True, total=1, created=1)
        assert str(outcome.summary()) == "1 Datensatz: 1 neu, 0 geändert, 0 gelöscht, 0 unverändert."


FORMS = [
    ("/addresses/new", {"kind": "company", "name": "", "email": "kein-mail"}),
    ("/phonebook/new", {"display_name": "Max", "work_phones": "abc", "emails": "x@"}),
    ("/phonebook/sources/new", {"type": "csv", "name": "", "url": "keine Adresse", "run_at": "25:00"}),
    ("/phonebook/sources/new?type=m365", {"type": "m365", "name": "M", "tenant": "x"}),
    ("/phonebook/sources/new?type=salesforce", {"type": "salesforce", "name": "S", "url": "nicht"}),
    ("/settings/telephony", {"default_region": "XX", "expire_minutes": "0", "routing": "all",
                             "lookup_token": "kurz", "webhook_user": "a b", "webhook_password": "x y"}),
    ("/settings/users/new", {"username": "", "password": "x"}),
    ("/settings/routing/rules/new", {"name": "", "action": "forward", "targets": "", "time_from": "25:00"}),
    ("/settings/routing/blocked", {"number": "abc"}),
    ("/calls/notes/new", {"subject": ""}),
    ("/account", {"display_name": "", "new_password": "x", "new_password_confirm": "y"}),
]


@pytest.mark.parametrize(("url", "data"), FORMS)
def test_wrong_input_is_answered_in_english(app, client, english_admin, url, data):
    response = client.post(url, data=data)
    assert response.status_code == 422, url
    findings = german_findings(f"POST {url} ({response.status_code})", response.text)
    assert not findings, "\n".join(findings)


def test_actions_flash_in_english(app, client, english_admin):
    """Flash messages after actions (a sync of the CSV source with errors, a block, deletions)."""
    source_id = english_admin["source_id"]
    with app.app_context():
        source = db.session.get(SyncSource, source_id)
        source.url = ""
        db.session.commit()
    actions = [
        (f"/phonebook/sources/{source_id}/run", {"mode": "sync"}),
        (f"/phonebook/sources/{source_id}/test", {}),
        ("/settings/routing/blocked", {"number": "+49 6131 999999", "reason": "Spam"}),
        (f"/settings/routing/blocked/{english_admin['entry_id_blocked']}/delete", {}),
        (f"/phonebook/{english_admin['entry_id']}/delete", {}),
        (f"/calls/{english_admin['call_pk']}/done", {}),
        ("/settings/telephony/test-connection", {}),
        ("/settings/devices/token", {}),
        ("/phonebook/sources/limits", {"max_per_upload": "0", "max_total": "x", "max_delete_share": "101"}),
    ]
    findings = []
    for url, data in actions:
        response = client.post(url, data=data, follow_redirects=True)
        assert response.status_code < 500, url
        findings += german_findings(f"POST {url} ({response.status_code})", response.text)
    assert not findings, "\n".join(findings)
