"""Subscriber CSV files as offices really produce them, written as bytes."""

from __future__ import annotations

import codecs
import tracemalloc
from datetime import datetime, timezone
from pathlib import Path

import pytest

from newsletter.audience.csv_reader import CandidateRow, RejectedRow, read_subscriber_csv
from newsletter.errors import ImportFileError
from tests.helpers.csv_files import EXCEL_FR


def read(tmp_path: Path, data: bytes, name: str = "abonnes.csv") -> list[CandidateRow | RejectedRow]:
    path = tmp_path / name
    path.write_bytes(data)
    return list(read_subscriber_csv(path))


def test_excel_french_export(tmp_path: Path) -> None:
    rows = read(tmp_path, EXCEL_FR)
    good = [r for r in rows if isinstance(r, CandidateRow)]
    bad = {r.line: r.reason for r in rows if isinstance(r, RejectedRow)}
    assert [(r.line, r.email, r.first_name, r.last_name) for r in good] == [
        (2, "helene.dubois@example.org", "Hélène", "Dubois"),
        (4, "francoise.petit@example.org", "Françoise", "Petit"),
        (6, "francoise.petit@example.org", "HYPERLINK(\"http://x\")", "Petit"),
    ]
    assert good[0].consent_at == datetime(2026, 3, 13, 23, 0, tzinfo=timezone.utc)  # midnight in Paris
    assert good[1].consent_at == datetime(2026, 3, 15, 8, 30, tzinfo=timezone.utc)
    assert "'jean.dupont@' is not a valid address" in bad[5]
    assert "looks like a spreadsheet formula" in bad[7]
    assert "no address" in bad[8]
    assert "consent date '31/02/2026' is not a date" in bad[9]


def test_utf8_bom_with_commas(tmp_path: Path) -> None:
    data = "\ufeffemail,first_name,last_name\nzoe@example.org,Zoé,Durand\n".encode("utf-8")
    (row,) = read(tmp_path, data)
    assert isinstance(row, CandidateRow) and (row.email, row.first_name) == ("zoe@example.org", "Zoé")


def test_tab_separated_with_english_headers(tmp_path: Path) -> None:
    data = b"E-mail Address\tFirst Name\tLast Name\tSource\nann@example.org\tAnn\tLee\tsalon\n"
    (row,) = read(tmp_path, data)
    assert isinstance(row, CandidateRow) and (row.email, row.last_name, row.consent_source) == \
        ("ann@example.org", "Lee", "salon")


def test_quoted_fields_with_commas_and_newlines_keep_line_numbers(tmp_path: Path) -> None:
    data = ('email,first_name,last_name\n'
            '"a@example.org","Anne, dite ""Nan""","Martin"\n'
            '"b@example.org","Bruno","sur\ndeux lignes"\n'
            'pas-une-adresse,X,Y\n').encode("utf-8")
    rows = read(tmp_path, data)
    assert isinstance(rows[0], CandidateRow) and rows[0].first_name == 'Anne, dite "Nan"'
    assert isinstance(rows[1], CandidateRow) and rows[1].last_name == "sur\ndeux lignes".replace("\n", "")
    assert isinstance(rows[2], RejectedRow) and rows[2].line == 5


@pytest.mark.parametrize(("cell", "expected"), [
    ("<zoe@example.org>", "zoe@example.org"),
    ("Zoé Durand <Zoe@Example.org>", "zoe@example.org"),
    ("mailto:zoe@example.org", "zoe@example.org"),
    ("\u00a0 zoe@example.org\u202f", "zoe@example.org"),
    ("ZOE@EXAMPLE.ORG", "zoe@example.org"),
])
def test_address_forms(tmp_path: Path, cell: str, expected: str) -> None:
    (row,) = read(tmp_path, f'email\n"{cell}"\n'.encode("utf-8"))
    assert isinstance(row, CandidateRow) and row.email == expected


@pytest.mark.parametrize("cell", ["pas-une-adresse", "a@b", "jean@", "@example.org", "a b@example.org"])
def test_bad_addresses_are_rejected_with_the_value(tmp_path: Path, cell: str) -> None:
    (row,) = read(tmp_path, f"email\n{cell}\n".encode("utf-8"))
    assert isinstance(row, RejectedRow) and row.line == 2 and cell[:10] in row.reason


@pytest.mark.parametrize(("data", "message"), [
    (b"", "empty"),
    (b"\n\n", "empty"),
    (b"nom;prenom\nDupont;Jean\n", "no email column"),
    (b"sep=;\r\n", "line 2 is blank"),
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00[Content_Types].xml", r"an Excel workbook \(\.xlsx\).*CSV UTF-8"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1\x00\x00", r"an Excel workbook \(\.xls\).*CSV UTF-8"),
    ("email\na@example.org\n".encode("utf-16-le"), "not a text file.*CSV UTF-8"),
])
def test_unusable_files(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(ImportFileError, match=message) as caught:
        read(tmp_path, data)
    assert "abonnes.csv" in str(caught.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="no such file"):
        list(read_subscriber_csv(tmp_path / "absent.csv"))
    with pytest.raises(ImportFileError, match="is a folder"):
        list(read_subscriber_csv(tmp_path))


def test_bad_utf8_after_the_sniffed_part(tmp_path: Path) -> None:
    good = "".join(f"p{i}@example.org,Éa\n" for i in range(5000)).encode("utf-8")
    data = b"email,first_name\n" + good + b"bad@example.org,\xe9\n"
    with pytest.raises(ImportFileError, match="not valid utf-8 text") as caught:
        read(tmp_path, data)
    assert "abonnes.csv:" in str(caught.value)


def test_names_are_cleaned(tmp_path: Path) -> None:
    data = ("email,first_name,last_name\n"
            "a@example.org,+33 6 12 34 56 78,\"-Jean-Pierre\"\n"
            f"b@example.org,{'x' * 300},Ok\x07\n").encode("utf-8")
    a, b = read(tmp_path, data)
    assert isinstance(a, CandidateRow) and (a.first_name, a.last_name) == ("33 6 12 34 56 78", "Jean-Pierre")
    assert isinstance(b, CandidateRow) and len(b.first_name) == 200 and b.last_name == "Ok"


def test_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("email,first_name,last_name\n")
        for i in range(20_000):
            handle.write(f"abonne{i}@example.org,Prénom{i},Nom\n")
    tracemalloc.start()
    count = sum(1 for _ in read_subscriber_csv(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 20_000
    assert peak < 5 * 1024 * 1024, peak  # a few rows in flight, never the file


def _long_file(stray: str, closing_row: int | None = None) -> bytes:
    rows = ["email,first_name", "r0@example.org,Anne", stray]
    rows += [f'r{i}@example.org,"Nom {i}"' if i == closing_row else f"r{i}@example.org,Nom{i}" for i in range(2, 2000)]
    return ("\n".join(rows) + "\n").encode("utf-8")


@pytest.mark.parametrize(("stray", "closing_row"), [
    ('r1@example.org,"O\'Brien', None),  # never closed: the quote runs to the end of the file
    ('r1@example.org,"O\'Brien', 1500),  # closed by a later row's quote, 1,500 rows on
    ('"r1@example.org,O\'Brien', None),  # in the address column
], ids=["to the end", "closed much later", "in the email column"])
def test_an_unclosed_quote_is_named_and_nothing_is_read(tmp_path: Path, stray: str, closing_row: int | None) -> None:
    path = tmp_path / "abonnes.csv"
    path.write_bytes(_long_file(stray, closing_row))
    with pytest.raises(ImportFileError, match=r"abonnes.csv:3: a quote \(\"\) opened on this line is never closed"):
        list(read_subscriber_csv(path))


UNICODE_TEXT = "Adresse e-mail\tPrénom\tNom\r\némilie@exämple.org\tÉmilie\tDurand\r\n\r\nzoe@example.org\tZoé\t\r\n"


@pytest.mark.parametrize("data", [
    codecs.BOM_UTF16_LE + UNICODE_TEXT.encode("utf-16-le"),  # Excel "Texte Unicode (*.txt)", Outlook
    codecs.BOM_UTF16_BE + UNICODE_TEXT.encode("utf-16-be"),
    b"sep=\t\r\n" + UNICODE_TEXT.encode("utf-8"),  # Excel's separator line, then the header
    b'"sep=;"\n' + UNICODE_TEXT.replace("\t", ";").encode("cp1252", "replace").replace(b"?", b"a"),
], ids=["utf-16-le", "utf-16-be", "sep line", "quoted sep line cp1252"])
def test_unicode_text_and_separator_lines(tmp_path: Path, data: bytes) -> None:
    rows = read(tmp_path, data)
    assert all(isinstance(r, CandidateRow) for r in rows), rows
    offset = 1 if data.startswith((b"sep", b'"sep')) else 0
    assert [(r.line, r.first_name) for r in rows] == [(2 + offset, "Émilie"), (4 + offset, "Zoé")]
    assert rows[1].email == "zoe@example.org"


MAILCHIMP = "Email Address,First Name,Last Name,MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,CONFIRM_IP,{extra}\n"


@pytest.mark.parametrize(("extra", "cell", "status", "left_at"), [
    ("LAST_CHANGED", "2026-03-02 10:00:00", "", None),  # subscribed_members_export.csv
    ("UNSUB_TIME", "2026-05-06 07:08:09", "unsubscribed", datetime(2026, 5, 6, 5, 8, 9, tzinfo=timezone.utc)),
    ("CLEAN_TIME", "2026-05-06 07:08:09", "bounced", datetime(2026, 5, 6, 5, 8, 9, tzinfo=timezone.utc)),
    ("Date de désinscription", "06/05/2026 07:08:09", "unsubscribed", datetime(2026, 5, 6, 5, 8, 9, tzinfo=timezone.utc)),
], ids=["subscribed", "unsubscribed", "cleaned", "french unsubscribed"])
def test_mailchimp_exports_keep_consent_and_suppressions(tmp_path: Path, extra: str, cell: str, status: str,
                                                         left_at: datetime | None) -> None:
    data = (MAILCHIMP.format(extra=extra)
            + f"marie@example.org,Marie,Curie,2,2026-03-01 09:00:00,192.0.2.1,2026-03-01 09:05:00,192.0.2.7,{cell}\n")
    (row,) = read(tmp_path, data.encode("utf-8"))
    assert isinstance(row, CandidateRow)
    assert (row.status, row.unsubscribed_at) == (status, left_at)  # never imported as active
    assert row.consent_at == datetime(2026, 3, 1, 8, 0, tzinfo=timezone.utc) and row.consent_ip == "192.0.2.1"


@pytest.mark.parametrize(("header", "value", "status"), [
    ("Unsubscribed from all email", "true", "unsubscribed"),  # HubSpot
    ("Unsubscribed from all email", "false", ""),
    ("Email Opt Out", "1", "unsubscribed"),  # Salesforce
    ("Email Opt Out", "0", ""),
    ("HasOptedOutOfEmail", "TRUE", "unsubscribed"),
    ("Désabonné", "oui", "unsubscribed"),
    ("Désabonné", "", ""),
    ("BLACKLISTED", "Vrai", "unsubscribed"),  # Brevo
    ("EMAIL_BLACKLISTED", "yes", "unsubscribed"),
], ids=["hubspot yes", "hubspot no", "salesforce 1", "salesforce 0", "api name", "french oui", "french empty",
        "brevo", "brevo email_blacklisted"])
def test_crm_opt_out_columns_make_a_suppression(tmp_path: Path, header: str, value: str, status: str) -> None:
    data = f"Email,First Name,{header}\nlea@example.org,Léa,{value}\n".encode("utf-8")
    (row,) = read(tmp_path, data)
    assert isinstance(row, CandidateRow) and row.status == status


def test_an_opt_out_cell_that_is_not_yes_or_no_is_rejected(tmp_path: Path) -> None:
    (row,) = read(tmp_path, "Email;Désabonné\nlea@example.org;peut-être\n".encode("utf-8"))
    assert isinstance(row, RejectedRow) and "opt-out" in row.reason and "'peut-être'" in row.reason


def test_a_french_google_forms_export_keeps_the_time_of_signing_up(tmp_path: Path) -> None:
    data = ('Horodateur,Adresse e-mail,Prénom,"J\'accepte de recevoir la lettre"\n'
            '24/11/2026 08:15:32,lea@example.org,Léa,Oui\n').encode("utf-8")
    (row,) = read(tmp_path, data)
    assert isinstance(row, CandidateRow) and row.consent_at == datetime(2026, 11, 24, 7, 15, 32, tzinfo=timezone.utc)


@pytest.mark.parametrize(("header", "line"), [
    ('"Prénom";"Deuxième prénom";"Nom";"Adresse de messagerie";"Nom complet de l\'adresse de messagerie"',
     '"Léa";"";"Roux";"lea@example.org";"Léa Roux (lea@example.org)"'),  # Outlook in French
    ("Name,Given Name,Family Name,E-mail 1 - Type,E-mail 1 - Value,E-mail 2 - Value",
     "Léa Roux,Léa,Roux,* Home,lea@example.org,autre@example.org"),  # Google Contacts
], ids=["outlook fr", "google contacts"])
def test_address_book_exports(tmp_path: Path, header: str, line: str) -> None:
    data = (header + "\r\n" + line + "\r\n").encode("cp1252" if "Deuxième" in header else "utf-8")
    (row,) = read(tmp_path, data)
    assert isinstance(row, CandidateRow) and (row.email, row.first_name, row.last_name) == \
        ("lea@example.org", "Léa", "Roux")


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""], ids=["LF", "CRLF", "no final line break"])
def test_an_unclosed_quote_on_the_last_row_is_named(tmp_path: Path, ending: str) -> None:
    # Only one physical line is left for the quote to run over, so the row looks like one line.
    path = tmp_path / "abonnes.csv"
    path.write_text(f"email,first_name\nr0@example.org,Anne\nr1@example.org,\"Last,X,2026-01-01{ending}",
                    encoding="utf-8", newline="")
    with pytest.raises(ImportFileError, match=r"abonnes.csv:3: a quote \(\"\) opened on this line is never closed, so the value runs to the end of the file"):
        list(read_subscriber_csv(path))
