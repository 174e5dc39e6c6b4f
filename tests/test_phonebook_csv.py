"""The CSV file format of the phonebook, row by row (CentrexX specification)."""
import pytest

from telephone.sync.base import SourceError
from telephone.sync.sources.csv_source import CsvSource, decode, detect_delimiter

from .phonebook_helpers import FIXTURE


def parse(data: bytes | str) -> tuple[list, list]:
    source = CsvSource()
    source.use_upload(data.encode("utf-8") if isinstance(data, str) else data)
    records = list(source.fetch())
    return records, source.problems()


def test_sample_file_row_by_row():
    records, problems = parse(FIXTURE.read_bytes())
    assert problems == []
    anna, joerg, weber = records
    assert (anna.internal_id, anna.display_name, anna.family_name, anna.given_name) == ("1", "Schmidt, Anna", "Schmidt", "Anna")
    assert (anna.honorific_prefix, anna.gender) == ("Dr.", "female")
    assert anna.phones == [("WORK", "+496131123456"), ("MOBILE", "+4917012345678"), ("WORK_FAX", "+496131123499")]
    assert anna.emails == [("WORK", "anna.schmidt@example.com")]
    assert (joerg.display_name, joerg.honorific_prefix, joerg.gender) == ("Jörg Müller", "", "male")
    assert joerg.phones == [("WORK", "+4922198765432")]
    assert weber.display_name == 'Weber & Söhne "Zentrale"'
    assert weber.honorific_prefix == "Prof. Dr."
    assert weber.emails == []
    assert [r.line for r in records] == [2, 3, 4]


def test_column_order_is_defined_by_the_header():
    records, _ = parse("phone,given_name,email,family_name,internal_id,display_name\n"
                       "MOBILE:+4917012345678,Eva,WORK:eva@example.com,Ernst,7,Eva Ernst\n")
    (eva,) = records
    assert (eva.internal_id, eva.display_name, eva.given_name, eva.family_name) == ("7", "Eva Ernst", "Eva", "Ernst")
    assert eva.phones == [("MOBILE", "+4917012345678")]
    assert eva.emails == [("WORK", "eva@example.com")]


def test_several_phones_and_emails():
    records, _ = parse("internal_id,display_name,family_name,given_name,phone,phone,phone,phone,email,email\n"
                       "1,A,A,A,WORK:+4930111,WORK:+4930222,MOBILE:+4917011,WORK_FAX:+4930333,"
                       "WORK:a@example.com,WORK:b@example.com\n")
    assert records[0].phones == [("WORK", "+4930111"), ("WORK", "+4930222"), ("MOBILE", "+4917011"),
                                 ("WORK_FAX", "+4930333")]
    assert records[0].emails == [("WORK", "a@example.com"), ("WORK", "b@example.com")]


def test_quoted_fields_with_delimiter_quotes_and_line_break():
    records, _ = parse('internal_id,display_name,family_name,given_name\n'
                       '1,"Meier, ""Die Firma""",Meier,"Hans\nPeter"\n'
                       '2,Zweiter,Z,Z\n')
    assert records[0].display_name == 'Meier, "Die Firma"'
    assert records[0].given_name == "Hans\nPeter"
    # line numbers are where the row starts in the file
    assert [r.line for r in records] == [2, 4]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_of_the_header_line(delimiter):
    header = delimiter.join(["internal_id", "display_name", "family_name", "given_name", "phone"])
    row = delimiter.join(["1", "Müller, Jörg", "Müller", "Jörg", "WORK:+4922198765432"])
    records, problems = parse(f"{header}\n{row}\n")
    assert problems == []
    assert records[0].display_name == "Müller, Jörg"
    assert records[0].phones == [("WORK", "+4922198765432")]


def test_delimiter_detection_ignores_quoted_text():
    assert detect_delimiter('"a;b;c",x,y') == ","
    assert detect_delimiter("internal_id") == ","


def test_utf8_with_bom_and_cp1252():
    text = "internal_id;display_name;family_name;given_name\n1;Jörg Müller;Müller;Jörg\n"
    bom, = parse(b"\xef\xbb\xbf" + text.encode("utf-8"))[0]
    assert bom.internal_id == "1" and bom.display_name == "Jörg Müller"
    cp, = parse(text.encode("cp1252"))[0]
    assert cp.display_name == "Jörg Müller"
    assert decode("Straße".encode("cp1252")) == "Straße"


def test_unknown_columns_are_ignored_with_a_notice():
    records, problems = parse("internal_id,display_name,family_name,given_name,abteilung\n1,A,A,A,Vertrieb\n")
    assert len(records) == 1
    assert [(p.level, p.line) for p in problems] == [("info", 1)]
    assert "abteilung" in problems[0].text


def test_missing_required_columns_fail_with_all_names():
    with pytest.raises(SourceError) as info:
        parse("internal_id,name,phone\n1,A,WORK:+4930111\n")
    text = " ".join(p.text for p in info.value.problems)
    assert "display_name" in text and "family_name" in text and "given_name" in text


def test_rows_with_too_many_fields_are_reported_with_line():
    records, problems = parse("internal_id,display_name,family_name,given_name\n1,A,A,A\n2,B,B,B,extra\n")
    assert [r.internal_id for r in records] == ["1"]
    assert [(p.level, p.line) for p in problems] == [("error", 3)]


def test_empty_file_fails():
    with pytest.raises(SourceError, match="leer"):
        parse(b"")


def test_phone_without_type_keeps_empty_type_for_the_engine():
    records, _ = parse("internal_id,display_name,family_name,given_name,phone\n1,A,A,A,+4930111\n")
    assert records[0].phones == [("", "+4930111")]


# --------------------------------------------------------------------------- fetching from a URL

URL = "https://intranet.example.de/telefonbuch.csv"


def test_fetch_with_basic_auth(requests_mock):
    requests_mock.get(URL, content=FIXTURE.read_bytes())
    source = CsvSource(url=URL, login="sync@example.de", password="geheim")
    assert len(list(source.fetch())) == 3
    assert requests_mock.last_request.headers["Authorization"].startswith("Basic ")


@pytest.mark.parametrize("status, text", [(401, "Login und Passwort"), (403, "Login und Passwort"),
                                          (404, "nicht gefunden"), (500, "HTTP 500")])
def test_fetch_http_errors_are_explained(requests_mock, status, text):
    requests_mock.get(URL, status_code=status)
    with pytest.raises(SourceError, match=text):
        list(CsvSource(url=URL, login="x", password="y").fetch())


def test_fetch_timeout(requests_mock):
    import requests

    requests_mock.get(URL, exc=requests.exceptions.ConnectTimeout)
    with pytest.raises(SourceError, match="Zeitüberschreitung"):
        list(CsvSource(url=URL).fetch())


def test_fetch_oversized_file_by_header_and_by_content(requests_mock, monkeypatch):
    monkeypatch.setattr(CsvSource, "max_bytes", 100)
    requests_mock.get(URL, content=b"x" * 101, headers={"Content-Length": "101"})
    with pytest.raises(SourceError, match="größer als"):
        list(CsvSource(url=URL).fetch())
    requests_mock.get(URL, content=b"x" * 500)  # no (or a wrong) length header: counted while reading
    with pytest.raises(SourceError, match="größer als"):
        CsvSource(url=URL).download()


def test_fetch_without_url_says_what_to_do():
    with pytest.raises(SourceError, match="keine URL"):
        list(CsvSource().fetch())
