"""The bounce mailbox on a real IMAP server (Dovecot on 127.0.0.1, TLS verified): processed messages move to
the processed folder only after their change is recorded; the rest stay in INBOX."""

from __future__ import annotations

import imaplib
import ssl
from pathlib import Path

import pytest

from newsletter.feedback.mail.mailboxes import ImapBox
from newsletter.config import load_settings
from newsletter.store.database import Store
from tests.bounces import mails
from tests.bounces.imap_server import PASSWORD, USER, Imap, imap_server  # noqa: F401  (fixture)
from tests.helpers.bounces import return_path, run, sent, statuses  # noqa: F401  (fixture)


def configure_imap(project: Path, port: int) -> None:
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + f"""
[bounces]
address = "bounces@bounce.example.org"
imap_host = "127.0.0.1"
imap_port = {port}
imap_user_env = "BOUNCES_IMAP_USER"
imap_password_env = "BOUNCES_IMAP_PASSWORD"
""", encoding="utf-8")


def connect(server: Imap) -> imaplib.IMAP4_SSL:
    imap = imaplib.IMAP4_SSL("127.0.0.1", server.port, ssl_context=ssl.create_default_context(
        cafile=str(server.cafile)))
    imap.login(USER, PASSWORD)
    return imap


def subjects(imap: imaplib.IMAP4_SSL, folder: str) -> list[str]:
    status, _ = imap.select(f'"{folder}"')
    if status != "OK":
        return []
    _, data = imap.uid("SEARCH", "ALL")  # a message flagged \Deleted but left in place would show
    found = []
    for uid in data[0].split():
        _, fetched = imap.uid("FETCH", uid, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        found.append(fetched[0][1].decode().strip())
    return sorted(found)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch, imap_server: Imap) -> Imap:  # noqa: F811
    monkeypatch.setenv("BOUNCES_IMAP_USER", USER)
    monkeypatch.setenv("BOUNCES_IMAP_PASSWORD", PASSWORD)
    return imap_server


def test_imap_bounces_are_recorded_then_moved(project: Path, store: Store, credentials: Imap,
                                              monkeypatch: pytest.MonkeyPatch, run) -> None:  # noqa: F811
    configure_imap(project, credentials.port)
    msgs = sent(project, store)
    imap = connect(credentials)
    imap.append("INBOX", None, None, mails.dsn(return_path(msgs["dsn"]), "dsn@destinataire.example")
                .replace(b"\n", b"\r\n"))
    imap.append("INBOX", None, None, mails.out_of_office(return_path(msgs["innocent"])).replace(b"\n", b"\r\n"))
    monkeypatch.setenv("SSL_CERT_FILE", str(credentials.cafile))  # the test's CA, trusted the usual way

    code, out, _ = run()

    assert code == 1 and out.startswith("1 hard bounce,") and "1 left for a human" in out
    assert statuses(store)["dsn"] == "bounced" and statuses(store)["innocent"] == "active"
    assert subjects(imap, "INBOX") == ["Subject: Absence du bureau"]
    assert subjects(imap, "Processed") == ["Subject: Undelivered Mail Returned to Sender"]
    imap.logout()
    settings = load_settings(project).bounces
    assert settings is not None
    box = ImapBox(settings, ssl_context=ssl.create_default_context(cafile=str(credentials.cafile)))
    assert box.moves is credentials.offers_move  # both paths were taken: MOVE, and COPY + \Deleted + UID EXPUNGE
    box.close()


def test_a_server_certificate_not_trusted_is_refused(project: Path, store: Store, credentials: Imap,
                                                     run) -> None:  # noqa: F811
    configure_imap(project, credentials.port)
    code, _, err = run()
    assert code == 1 and "did not pass the TLS check" in err and "Traceback" not in err


def test_a_wrong_password_names_the_variables_not_the_password(project: Path, store: Store, credentials: Imap,
                                                               monkeypatch: pytest.MonkeyPatch, run) -> None:  # noqa: F811
    configure_imap(project, credentials.port)
    monkeypatch.setenv("SSL_CERT_FILE", str(credentials.cafile))
    monkeypatch.setenv("BOUNCES_IMAP_PASSWORD", "wrong-password-9")
    code, _, err = run()
    assert code == 2 and "BOUNCES_IMAP_PASSWORD" in err and "wrong-password-9" not in err


def test_a_missing_imap_folder_is_named(project: Path, store: Store, credentials: Imap,
                                        monkeypatch: pytest.MonkeyPatch, run) -> None:  # noqa: F811
    configure_imap(project, credentials.port)
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8") + 'imap_folder = "Retours"\n', encoding="utf-8")
    monkeypatch.setenv("SSL_CERT_FILE", str(credentials.cafile))
    code, _, err = run()
    assert code == 2 and "the IMAP folder 'Retours' does not exist" in err
