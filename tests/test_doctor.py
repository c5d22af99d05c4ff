"""``newsletter doctor`` against a DNS server and an HTTPS service on 127.0.0.1, never the internet.

The DNS server answers from zone data (tests/dns_server.py); the HTTPS server runs the real public
app (``newsletter serve``'s) with certificates from a test CA; ``base_url``'s host resolves to
127.0.0.1 through the test DNS. Each broken setup must give its finding, with its fix.
"""

from __future__ import annotations

import base64
import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from werkzeug.serving import make_server

from newsletter import Newsletter
from newsletter.frontends.cli import main
from newsletter.config import load_settings
from newsletter.core.i18n import words
from newsletter.doctor import PROBE_ADDRESS, Finding, Level, Network, diagnose, has_errors
from newsletter.store.database import Store
from newsletter.store.subscribers import add_subscriber, find_subscriber
from newsletter.frontends.web.app import create_app
from tests.conftest import SECRET
from tests.helpers.clock import real_now
from tests.dkim_keys import pem, write_key
from tests.dns_server import DnsServer, Records, txt
from tests.sink import free_port
from tests.helpers.french import NBSP, english, mistakes, unquoted
from tests.helpers.store import break_files
from tests.helpers.config import merge_options, read_config, set_options

HOST = "news.example.org"
RELAY = "smtp.relay.example.net"
ENV = {"NEWSLETTER_SECRET_KEY": SECRET, "SMTP_PASSWORD": "relay-password"}


# -- certificates -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pki:
    ca_file: Path
    chains: dict[str, tuple[Path, Path]]  # name -> (certificate, key)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(folder: Path, label: str, *, names: list[str], issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
                 days: tuple[int, int] = (-1, 30)) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = real_now()  # OpenSSL checks the dates on the machine's clock, even under --clock-shift
    issuer_name, issuer_key = issuer or (_name(names[0]), key)
    cert = (x509.CertificateBuilder().subject_name(_name(names[0])).issuer_name(issuer_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + timedelta(days=days[0])).not_valid_after(now + timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))
    cert_file, key_file = folder / f"{label}.crt", folder / f"{label}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = real_now()  # OpenSSL checks the dates on the machine's clock, even under --clock-shift
    ca_name = _name("Newsletter Test CA")
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
          .not_valid_after(now + timedelta(days=365))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    ca_file = folder / "ca.crt"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    issuer = (ca_name, ca_key)
    return Pki(ca_file, {
        "valid": _certificate(folder, "valid", names=[HOST], issuer=issuer),
        "expired": _certificate(folder, "expired", names=[HOST], issuer=issuer, days=(-30, -1)),
        "self-signed": _certificate(folder, "self-signed", names=[HOST], issuer=None),
        "other-name": _certificate(folder, "other-name", names=["www.example.com"], issuer=issuer),
        "expiring": _certificate(folder, "expiring", names=[HOST], issuer=issuer, days=(-60, 3)),
    })


class HttpsService:
    """The public app (as ``newsletter serve`` makes it) behind TLS on 127.0.0.1, in a thread."""

    def __init__(self, project: Path, store: Store, chain: tuple[Path, Path], port: int) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*chain)
        app = create_app(Newsletter(load_settings(project), store=store, secret_key=SECRET))
        self.server = make_server("127.0.0.1", port, app, threaded=True, ssl_context=context)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "HttpsService":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        assert not self.thread.is_alive()


# -- the project and its DNS ---------------------------------------------------------------------

def dkim_record(kind: str = "rsa") -> str:
    key = serialization.load_pem_private_key(pem(kind), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
    der = key.public_key().public_bytes(serialization.Encoding.DER,  # type: ignore[union-attr]
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def good_records() -> Records:
    spf = txt("v=spf1 include:spf.relay.example.net -all")
    return {
        "example.org.": [("TXT", spf), ("MX", "10 mail.example.org.")],
        "mail.example.org.": [("A", "192.0.2.10")],
        "nl2026._domainkey.example.org.": [("TXT", txt(dkim_record()))],
        "nl2026e._domainkey.example.org.": [("TXT", txt(dkim_record("ed25519")))],
        "_dmarc.example.org.": [("TXT", txt("v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"))],
        "bounce.example.org.": [("TXT", spf), ("MX", "10 mail.example.org.")],
        f"{HOST}.": [("A", "127.0.0.1")],
        f"{RELAY}.": [("A", "192.0.2.25")],
        "spf.relay.example.net.": [("TXT", txt("v=spf1 ip4:192.0.2.0/24 -all"))],
    }


def configure(project: Path, port: int, *, dkim: str = "rsa+ed25519",
              bounces: str = "bounces@bounce.example.org", unsubscribe: bool = True) -> None:
    """``dkim``: the keys of [dkim] (``rsa+ed25519``, RSA and Ed25519 signatures together; ``ed25519``
    alone; ``""``, no [dkim] table)."""
    set_options(project, "newsletter", base_url=f"https://{HOST}:{port}")
    set_options(project, "delivery", adapter="smtp")
    set_options(project, "delivery.smtp", host=RELAY)
    if dkim:
        first, _, second = dkim.partition("+")
        write_key(project, first)
        keys = {"selector": "nl2026", "domain": "example.org", "private_key_file": "dkim.pem"}
        if second:
            write_key(project, second, "dkim-ed.pem")
            keys.update(ed25519_selector="nl2026e", ed25519_private_key_file="dkim-ed.pem")
        set_options(project, "dkim", **keys)
    if bounces:
        mailbox = {"address": bounces, "maildir": "bounces"}
        if unsubscribe:
            mailbox["unsubscribe_address"] = f"unsubscribe@{bounces.partition('@')[2]}"
        set_options(project, "bounces", **mailbox)


@dataclass
class Setup:
    zone: Callable[[Records], None] = lambda records: None
    dkim: str = "rsa+ed25519"
    bounces: str = "bounces@bounce.example.org"
    unsubscribe: bool = True  # [bounces] unsubscribe_address under the bounce domain
    chain: str = "valid"
    environ: dict[str, str] = field(default_factory=lambda: dict(ENV))
    database_deleted: bool = False


def run(project: Path, store: Store, pki: Pki, setup: Setup) -> list[Finding]:
    port = free_port()
    configure(project, port, dkim=setup.dkim, bounces=setup.bounces, unsubscribe=setup.unsubscribe)
    records = good_records()
    setup.zone(records)
    with DnsServer(records) as dns, HttpsService(project, store, pki.chains[setup.chain], port):
        if setup.database_deleted:
            break_files(project, "file deleted")
        return diagnose(project, environ=setup.environ, now=real_now(),
                        network=Network(nameservers=[f"127.0.0.1:{dns.port}"], timeout=30, ca_file=pki.ca_file))


def problems(findings: list[Finding]) -> list[str]:
    return [f.line() for f in findings if f.level is not Level.OK]


def test_a_complete_setup_is_all_ok(project: Path, store: Store, pki: Pki) -> None:
    findings = run(project, store, pki, Setup())
    assert problems(findings) == []
    assert not has_errors(findings)
    assert {f.check for f in findings} == {
        "config", "secret-key", "delivery", "unsubscribe", "spelling", "spf example.org", "spf bounce.example.org",
        "dkim nl2026._domainkey.example.org", "dkim nl2026e._domainkey.example.org", "dmarc example.org",
        "alignment", "mx bounce.example.org",
        "https", "one-click"}


# -- each broken setup: the finding and its fix -----------------------------------------------

def _set(name: str, *rows: tuple[str, str]) -> Callable[[Records], None]:
    def edit(records: Records) -> None:
        kinds = {kind for kind, _ in rows}
        records[name] = [r for r in records.get(name, []) if r[0] not in kinds] + [r for r in rows if r[1]]
    return edit


def _spf(text: str) -> Callable[[Records], None]:
    return _set("example.org.", ("TXT", txt(text)))


def _drop(name: str, kind: str) -> Callable[[Records], None]:
    def edit(records: Records) -> None:
        records[name] = [r for r in records[name] if r[0] != kind]
    return edit


def _both(*edits: Callable[[Records], None]) -> Callable[[Records], None]:
    def edit(records: Records) -> None:
        for one in edits:
            one(records)
    return edit


OTHER_ED25519 = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.Raw, serialization.PublicFormat.Raw)

BROKEN = {
    "no SPF": (Setup(zone=_drop("example.org.", "TXT")),
               "spf example.org", Level.ERROR, "has no SPF record",
               'publish example.org TXT "v=spf1 ip4:192.0.2.25 -all"'),
    "two SPF records": (Setup(zone=lambda r: r["example.org."].append(("TXT", txt("v=spf1 mx -all")))),
                        "spf example.org", Level.ERROR, "has 2 SPF records", "merge them into one TXT record"),
    "+all": (Setup(zone=_spf("v=spf1 include:spf.relay.example.net +all")),
             "spf example.org", Level.ERROR, "ends with +all", 'end the record with "-all"'),
    "bare all": (Setup(zone=_spf("v=spf1 include:spf.relay.example.net all")),
                 "spf example.org", Level.ERROR, "ends with +all", 'end the record with "-all"'),
    "?all": (Setup(zone=_spf("v=spf1 include:spf.relay.example.net ?all")),
             "spf example.org", Level.WARNING, "?all (neutral)", 'end the record with "-all"'),
    "misspelt mechanism": (Setup(zone=_spf("v=spf1 inclde:spf.relay.example.net -all")),
                           "spf example.org", Level.ERROR, "'inclde:spf.relay.example.net' is not a valid",
                           "keep only all, include:"),
    "bad network": (Setup(zone=_spf("v=spf1 ip4:192.0.2.300 -all")),
                    "spf example.org", Level.ERROR, "not a valid ip4 network", "ip4:192.0.2.0/24"),
    "relay not named, no bounce domain": (Setup(bounces="", zone=_spf("v=spf1 ip4:198.51.100.0/24 -all")),
                                          "spf example.org", Level.WARNING,
                                          f"cannot tell whether SPF lets {RELAY} send for example.org",
                                          "add ip4:192.0.2.25 before the all term"),
    "relay not named": (Setup(zone=_set("bounce.example.org.", ("TXT", txt("v=spf1 ip4:198.51.100.0/24 -all")))),
                        "spf bounce.example.org", Level.WARNING, f"cannot tell whether SPF lets {RELAY} send",
                        "add ip4:192.0.2.25 before the all term"),
    "relay covered only by an included network": (
        Setup(zone=_both(_set("bounce.example.org.", ("TXT", txt("v=spf1 include:_spf.example.com -all"))),
                         _set("_spf.example.com.", ("TXT", txt("v=spf1 ip4:192.0.2.0/24 ~all"))))),
        "spf bounce.example.org", Level.OK, f"it covers the relay ({RELAY})", ""),
    # The names exist: a missing include or void a: lookups are findings of their own (below).
    "too many lookups": (Setup(zone=_both(_spf("v=spf1 " + " ".join(f"include:s{i}.relay.example.net"
                                                                   for i in range(11)) + " -all"),
                                          *(_set(f"s{i}.relay.example.net.", ("TXT", txt("v=spf1 ip4:192.0.2.0/24 -all")))
                                            for i in range(11)))),
                         "spf example.org", Level.ERROR, "(11 counted", "replace some include:"),
    "too many lookups through an include": (
        Setup(zone=_both(_spf("v=spf1 include:many.relay.example.net -all"),
                         _set("many.relay.example.net.", ("TXT", txt(
                             "v=spf1 " + " ".join(f"a:h{i}.relay.example.net" for i in range(10)) + " -all"))),
                         *(_set(f"h{i}.relay.example.net.", ("A", "192.0.2.25")) for i in range(10)))),
        "spf example.org", Level.ERROR, "(11 counted, includes followed)", "replace some include:"),
    "include without SPF": (Setup(zone=_spf("v=spf1 include:spf.relay.example.net include:gone.example.net -all")),
                            "spf example.org", Level.ERROR,
                            "gone.example.net (named by include:/redirect=) has no SPF record",
                            "correct or remove that include:"),
    "no DKIM record": (Setup(zone=_drop("nl2026._domainkey.example.org.", "TXT")),
                       "dkim nl2026._domainkey.example.org", Level.ERROR, "no DKIM key",
                       f'publish nl2026._domainkey.example.org TXT "{dkim_record()}"'),
    "DKIM key mismatch": (Setup(zone=_set("nl2026e._domainkey.example.org.", ("TXT", txt(
        f"v=DKIM1; k=ed25519; p={base64.b64encode(OTHER_ED25519).decode()}")))),
        "dkim nl2026e._domainkey.example.org", Level.ERROR, "is not the public half of dkim-ed.pem",
        f'publish nl2026e._domainkey.example.org TXT "{dkim_record("ed25519")}"'),
    "DKIM key type mismatch": (Setup(zone=_set("nl2026._domainkey.example.org.", ("TXT", txt(
        dkim_record("ed25519"))))), "dkim nl2026._domainkey.example.org", Level.ERROR,
        "k=ed25519 but dkim.pem is an rsa key", f'TXT "{dkim_record()}"'),
    "mailto unsubscribe unread": (Setup(unsubscribe=False), "unsubscribe", Level.WARNING,
                                  "goes to the Reply-To redaction@example.org, which nothing reads",
                                  'set [bounces] unsubscribe_address = "unsubscribe@bounce.example.org"'),
    "Ed25519 alone": (Setup(dkim="ed25519", zone=_set("nl2026._domainkey.example.org.", ("TXT", txt(
        dkim_record("ed25519"))))), "dkim", Level.WARNING, "only an Ed25519 signature, which most receivers do not",
        "newsletter dkim keygen nl2026-rsa"),
    "DKIM testing": (Setup(zone=_set("nl2026._domainkey.example.org.", ("TXT", txt(dkim_record() + "; t=y")))),
                     "dkim nl2026._domainkey.example.org", Level.WARNING, "test mode", "remove t=y"),
    "DMARC none": (Setup(zone=_set("_dmarc.example.org.", ("TXT", txt("v=DMARC1; p=none")))),
                   "dmarc example.org", Level.WARNING, "p=none", "set p=quarantine (then p=reject)"),
    "no DMARC": (Setup(zone=_drop("_dmarc.example.org.", "TXT")),
                 "dmarc example.org", Level.ERROR, "no DMARC record",
                 'publish _dmarc.example.org TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org"'),
    "bounce domain misaligned": (Setup(bounces="bounces@bounce.example.net",
                                       zone=_set("bounce.example.net.", ("MX", "10 mail.example.org."),
                                                 ("TXT", txt("v=spf1 include:spf.relay.example.net -all")))),
                                 "alignment", Level.WARNING, "bounce.example.net does not align with From example.org",
                                 "use a bounce address under example.org"),
    "strict SPF alignment": (Setup(zone=_set("_dmarc.example.org.", ("TXT", txt("v=DMARC1; p=reject; aspf=s")))),
                             "alignment", Level.WARNING, "(strict, aspf=s)", "relax DMARC with aspf=r"),
    "nothing aligned": (Setup(dkim="", bounces="bounces@bounce.example.net",
                              zone=_set("bounce.example.net.", ("MX", "10 mail.example.org."),
                                        ("TXT", txt("v=spf1 include:spf.relay.example.net -all")))),
                        "alignment", Level.ERROR, "neither DKIM nor SPF aligns",
                        "sign with [dkim] domain = 'example.org'"),
    "no MX": (Setup(zone=_drop("bounce.example.org.", "MX")),
              "mx bounce.example.org", Level.ERROR, "has no MX record", "publish bounce.example.org MX 10"),
    "null MX": (Setup(zone=_set("bounce.example.org.", ("MX", "0 ."))),
                "mx bounce.example.org", Level.ERROR, "null MX", "replace it by bounce.example.org MX 10"),
    "MX host without address": (Setup(zone=_set("bounce.example.org.", ("MX", "10 gone.example.org."))),
                                "mx bounce.example.org", Level.ERROR, "gone.example.org of bounce.example.org has no",
                                "publish an A or AAAA record for gone.example.org"),
    "expired certificate": (Setup(chain="expired"), "https", Level.ERROR, "has expired", "certbot certonly"),
    "self-signed certificate": (Setup(chain="self-signed"), "https", Level.ERROR, "is self-signed",
                                "certbot certonly"),
    "certificate for another name": (Setup(chain="other-name"), "https", Level.ERROR, "is for another name",
                                     "certbot certonly"),
    "certificate expiring": (Setup(chain="expiring"), "https", Level.WARNING, "expires in 2 days",
                             "certbot renew"),
    "service without its database": (Setup(database_deleted=True), "https", Level.ERROR,
                                     "/healthz answers 503: the service cannot reach its database",
                                     "check [store] url"),
    "base_url not in DNS": (Setup(zone=_drop(f"{HOST}.", "A")), "https", Level.ERROR,
                            f"{HOST} (base_url) has no A or AAAA record", f"publish {HOST} A"),
    "service with another key": (Setup(environ={**ENV, "NEWSLETTER_SECRET_KEY": "another-" + SECRET}),
                                 "one-click", Level.ERROR, "serve runs with another key",
                                 "give send, schedule run and serve the same NEWSLETTER_SECRET_KEY"),
    "weak secret key": (Setup(environ={**ENV, "NEWSLETTER_SECRET_KEY": "change-me"}), "secret-key", Level.ERROR,
                        "is a published example key", "secrets.token_urlsafe(32)"),
    "no SMTP password": (Setup(environ={"NEWSLETTER_SECRET_KEY": SECRET}), "delivery", Level.ERROR,
                         "SMTP_PASSWORD is not set", "export SMTP_PASSWORD="),
    # -- what the SPF and DMARC libraries catch that the hand-written parsers did not -----------------
    "SPF with too many void lookups": (
        Setup(zone=_spf("v=spf1 a:v1.example.org a:v2.example.org a:v3.example.org include:spf.relay.example.net -all")),
        "spf example.org", Level.ERROR, "find nothing", "remove the terms that name domains without records"),
    "SPF include loop": (
        Setup(zone=_both(_spf("v=spf1 include:spf.relay.example.net include:loop.example.net -all"),
                         _set("loop.example.net.", ("TXT", txt("v=spf1 include:loop.example.net -all"))))),
        "spf example.org", Level.ERROR, "include: loop", "remove the include: that leads back"),
    "SPF redirect= to a record ending +all": (
        Setup(zone=_both(_spf("v=spf1 redirect=open.example.net"),
                         _set("open.example.net.", ("TXT", txt("v=spf1 include:spf.relay.example.net +all"))))),
        "spf example.org", Level.ERROR, "ends with +all", 'end the record with "-all"'),
    "SPF with two redirect=": (
        Setup(zone=_spf("v=spf1 redirect=spf.relay.example.net redirect=spf.relay.example.net")),
        "spf example.org", Level.ERROR, "Multiple redirect modifiers", "correct the record"),
    "SPF with an invalid macro": (
        Setup(zone=_spf("v=spf1 include:spf.relay.example.net exists:%{z}.example.org -all")),
        "spf example.org", Level.ERROR, "macro", "correct the record"),
    "DMARC sp=none": (Setup(zone=_set("_dmarc.example.org.", ("TXT", txt(
        "v=DMARC1; p=reject; sp=none; rua=mailto:dmarc@example.org")))),
        "dmarc example.org", Level.WARNING, "sp=none: spoofed mail from subdomains of example.org is still delivered",
        "set sp=quarantine (or remove sp=, so p= applies)"),
    "DMARC malformed adkim": (Setup(zone=_set("_dmarc.example.org.", ("TXT", txt(
        "v=DMARC1; p=reject; adkim=x; rua=mailto:dmarc@example.org")))),
        "dmarc example.org", Level.WARNING, "x is not a valid adkim tag value", "correct _dmarc.example.org"),
    "DMARC report address without mailto:": (Setup(zone=_set("_dmarc.example.org.", ("TXT", txt(
        "v=DMARC1; p=reject; rua=dmarc@example.org")))),
        "dmarc example.org", Level.ERROR, "not a valid DMARC report URI", "correct _dmarc.example.org"),
    "DMARC pct": (Setup(zone=_set("_dmarc.example.org.", ("TXT", txt(
        "v=DMARC1; p=reject; pct=50; rua=mailto:dmarc@example.org")))),
        "dmarc example.org", Level.WARNING, "pct=50: the policy applies to only part of the failing mail",
        "remove pct="),
    "DMARC misspelt policy": (Setup(zone=_set("_dmarc.example.org.", ("TXT", txt(
        "v=DMARC1; p=rejet; rua=mailto:dmarc@example.org")))),
        "dmarc example.org", Level.ERROR, "has no valid p= policy (got 'rejet')", "publish _dmarc.example.org TXT"),
}


@pytest.mark.parametrize("case", BROKEN.values(), ids=BROKEN.keys())
def test_each_broken_setup_gets_its_finding_and_fix(project: Path, store: Store, pki: Pki,
                                                    case: tuple[Setup, str, Level, str, str]) -> None:
    setup, check, level, message, fix = case
    findings = run(project, store, pki, setup)
    matching = [f for f in findings if f.check == check and message in f.message]
    assert matching, "\n".join(f.line() for f in findings)
    assert matching[0].level is level
    assert fix in matching[0].fix
    assert has_errors(findings) is (level is Level.ERROR)  # everything else in the setup is fine
    assert_french(findings)


def assert_french(findings: list[Finding]) -> None:
    """Every finding said in French, fix included, in French typography: only the records, names and the
    libraries' own answers (quoted « ») stay as they are."""
    said = {f.line(): f.line(words("fr_FR")) for f in findings}
    assert {english_line: found for english_line, french in said.items()
            for found in [english(french) + mistakes(unquoted(re.sub(r"'[^']*'", "…", french)))]
            if found} == {}, "\n".join(said.values())


@pytest.mark.parametrize("shape", ["spki", "pkcs1"])
def test_an_rsa_key_is_matched_whether_dns_holds_spki_or_pkcs1(project: Path, store: Store, pki: Pki,
                                                               shape: str) -> None:
    key = serialization.load_pem_private_key(pem("rsa"), password=None).public_key()
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1 if shape == "pkcs1"
                           else serialization.PublicFormat.SubjectPublicKeyInfo)
    record = f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"
    port = free_port()
    configure(project, port)
    write_key(project, "rsa")
    records = good_records()
    records["nl2026._domainkey.example.org."] = [("TXT", txt(record))]
    with DnsServer(records) as dns, HttpsService(project, store, pki.chains["valid"], port):
        findings = diagnose(project, now=real_now(), environ=ENV, network=Network(nameservers=[f"127.0.0.1:{dns.port}"],
                                                                  ca_file=pki.ca_file))
    assert problems(findings) == []


def test_the_one_click_probe_unsubscribes_nobody(project: Path, store: Store, pki: Pki) -> None:
    now = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
    add_subscriber(store, "lecteur@example.org", now=now)
    findings = run(project, store, pki, Setup())
    assert [f.level for f in findings if f.check == "one-click"] == [Level.OK]
    person = find_subscriber(store, "lecteur@example.org")
    assert person is not None and person.status == "active"
    assert find_subscriber(store, PROBE_ADDRESS) is None


def test_a_silent_dns_server_gives_not_checked_warnings_instead_of_hanging(project: Path, store: Store,
                                                                           pki: Pki) -> None:
    configure(project, free_port())
    with DnsServer(good_records(), silent=True) as dns:
        findings = diagnose(project, now=real_now(), environ=ENV, network=Network(nameservers=[f"127.0.0.1:{dns.port}"],
                                                                  timeout=0.5, ca_file=pki.ca_file))
    assert_french(findings)
    unchecked = {f.check for f in findings if f.message.startswith("not checked: the DNS did not answer")}
    assert unchecked == {"spf example.org", "spf bounce.example.org", "dkim", "dmarc", "mx bounce.example.org",
                         "https"}
    assert all("--nameserver" in f.fix for f in findings if f.check in unchecked)
    assert len(set(dns.queries)) == 2  # then the DNS is taken as down: two timeouts in all, not one per record


def test_a_configuration_that_does_not_load_is_the_only_finding(project: Path) -> None:
    set_options(project, "wbe", port=8080)  # a table this version does not know
    findings = diagnose(project, now=real_now(), environ=ENV)
    assert len(findings) == 1 and findings[0].check == "config" and findings[0].level is Level.ERROR
    assert "unknown table [wbe]" in findings[0].message and "edit" in findings[0].fix


def test_a_plain_http_base_url_is_an_error(project: Path) -> None:
    configure(project, 8443)
    base_url = str(read_config(project)["newsletter"]["base_url"])  # type: ignore[index]
    set_options(project, "newsletter", base_url=base_url.replace("https://", "http://"))
    with DnsServer(good_records()) as dns:
        findings = diagnose(project, now=real_now(), environ=ENV, network=Network(nameservers=[f"127.0.0.1:{dns.port}"]))
    https = [f for f in findings if f.check == "https"]
    assert https[0].level is Level.ERROR and "plain http" in https[0].message and 'https://' in https[0].fix


# -- the command -----------------------------------------------------------------------------------

@pytest.mark.parametrize("broken", [False, True])
def test_doctor_command_prints_json_and_exits_1_on_an_error(project: Path, store: Store, pki: Pki, broken: bool,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    configure(project, port)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    records = good_records()
    if broken:
        _drop("example.org.", "TXT")(records)
    with DnsServer(records) as dns, HttpsService(project, store, pki.chains["valid"], port):
        code = main(["-C", str(project), "doctor", "--json", "--nameserver", f"127.0.0.1:{dns.port}",
                     "--ca-file", str(pki.ca_file), "--timeout", "3"])
    out = json.loads(capsys.readouterr().out)
    assert code == (1 if broken else 0)
    assert {"check", "level", "message", "fix"} <= set(out[0])
    assert any(f["level"] == "error" and f["check"] == "spf example.org" for f in out) is broken


def test_doctor_command_prints_one_line_per_finding_with_its_fix(project: Path,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "change-me")
    configure(project, free_port())
    with DnsServer(good_records()) as dns:
        code = main(["-C", str(project), "doctor", "--nameserver", f"127.0.0.1:{dns.port}", "--timeout", "1"])
    out = capsys.readouterr().out
    assert code == 1
    assert "error   secret-key: NEWSLETTER_SECRET_KEY is a published example key" in out
    assert "        fix: generate one with" in out
    assert SECRET not in out and "change-me" not in out


def test_doctor_speaks_french_under_a_french_locale(project: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", "change-me")
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    monkeypatch.delenv("LANGUAGE", raising=False)
    configure(project, free_port())
    with DnsServer(good_records()) as dns:
        code = main(["-C", str(project), "doctor", "--nameserver", f"127.0.0.1:{dns.port}", "--timeout", "1"])
        printed = capsys.readouterr().out
        assert main(["-C", str(project), "doctor", "--json", "--nameserver", f"127.0.0.1:{dns.port}",
                     "--timeout", "1"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert code == 1
    assert (f"erreur    clé secrète{NBSP}: NEWSLETTER_SECRET_KEY est une clé d’exemple publiée{NBSP}: n’importe qui "
            "peut fabriquer avec elle") in printed
    assert f"          à faire{NBSP}: générez-en une avec `python -c" in printed
    assert f"ok        spf example.org{NBSP}: enregistrement SPF présent" in printed
    assert english(printed) == [], printed
    secret = [f for f in out if f["check"] == "secret-key"]  # names for scripts, sentences for people
    assert secret[0]["level"] == "error" and secret[0]["message"].startswith("NEWSLETTER_SECRET_KEY est une clé")


def test_a_nameserver_given_by_name_is_a_usage_error(project: Path, capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["-C", str(project), "doctor", "--nameserver", "dns.example.net"]) == 2
    assert "--nameserver 'dns.example.net' is not an IP address" in capsys.readouterr().err
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    assert main(["-C", str(project), "doctor", "--nameserver", "dns.example.net"]) == 2
    assert "--nameserver «\u00a0dns.example.net\u00a0» n’est pas une adresse IP" in capsys.readouterr().err



# -- mail APIs: the provider signs, and its include is what SPF needs --------------------------

API_CASES = {
    "mailgun, its domain's SPF includes mailgun.org": (
        "mailgun", 'domain = "mg.example.org"\n', "MAILGUN_API_KEY",
        {"mg.example.org.": [("TXT", txt("v=spf1 include:mailgun.org ~all"))],
         "mailgun.org.": [("TXT", txt("v=spf1 ip4:198.51.100.0/24 ~all"))]},
        "spf mg.example.org", Level.OK, "covers the relay (mailgun)", ""),
    "mailgun, its domain without SPF": (
        "mailgun", 'domain = "mg.example.org"\n', "MAILGUN_API_KEY", {},
        "spf mg.example.org", Level.ERROR, "mg.example.org has no SPF record",
        'publish mg.example.org TXT "v=spf1 include:mailgun.org -all"'),
    "sendgrid, From SPF without its include": (
        "sendgrid", "", "SENDGRID_API_KEY", {},
        "spf example.org", Level.WARNING, "needed only when the provider sends with your domain as envelope sender",
        "add include:sendgrid.net before the all term"),
    "postmark, From SPF with its include": (
        "postmark", "", "POSTMARK_SERVER_TOKEN",
        {"example.org.": [("TXT", txt("v=spf1 include:spf.mtasv.net -all")), ("MX", "10 mail.example.org.")],
         "spf.mtasv.net.": [("TXT", txt("v=spf1 ip4:198.51.100.0/24 -all"))]},
        "spf example.org", Level.OK, "covers the relay (postmark)", ""),
}


@pytest.mark.parametrize("case", API_CASES.values(), ids=API_CASES.keys())
def test_mail_api_setups(project: Path, store: Store, pki: Pki,
                         case: tuple[str, str, str, Records, str, Level, str, str]) -> None:
    adapter, table, key_env, extra, check, level, message, fix = case
    port = free_port()
    configure(project, port, dkim="", bounces="")
    set_options(project, "delivery", adapter=adapter)
    merge_options(project, f"[delivery.{adapter}]\n{table}")
    records = good_records()
    records.update(extra)
    with DnsServer(records) as dns, HttpsService(project, store, pki.chains["valid"], port):
        findings = diagnose(project, now=real_now(), environ={"NEWSLETTER_SECRET_KEY": SECRET, key_env: "api-key"},
                            network=Network(nameservers=[f"127.0.0.1:{dns.port}"], ca_file=pki.ca_file))
    matching = [f for f in findings if f.check == check and message in f.message]
    assert matching, "\n".join(f.line() for f in findings)
    assert matching[0].level is level and fix in matching[0].fix
    assert [f.message for f in findings if f.check == "dkim"] == [
        f"not checked here: {adapter} signs with the key set up in its dashboard, where the domain must show as "
        "verified"]
    assert has_errors(findings) is (level is Level.ERROR)


def test_an_injected_resolver_is_the_one_asked(project: Path) -> None:
    import dns.resolver

    configure(project, free_port())
    with DnsServer(good_records()) as server:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        resolver.port = server.port
        findings = diagnose(project, now=real_now(), environ=ENV, network=Network(resolver=resolver, timeout=30))
    assert ("_dmarc.example.org.", "TXT") in server.queries
    assert [f.level for f in findings if f.check == "dmarc example.org"] == [Level.OK]


@pytest.mark.parametrize("relay", ["127.0.0.1", "localhost", "relay.lan.example.org"])
def test_a_relay_on_this_machine_or_a_private_network_is_not_given_as_the_spf_fix(project: Path, relay: str) -> None:
    configure(project, free_port(), bounces="")
    set_options(project, "delivery.smtp", host=relay)
    records = good_records()
    records["relay.lan.example.org."] = [("A", "192.168.1.25")]
    with DnsServer(records) as dns:
        findings = diagnose(project, now=real_now(), environ=ENV, network=Network(nameservers=[f"127.0.0.1:{dns.port}"]))
    spf = [f for f in findings if f.check == "spf example.org"]
    assert [f.level for f in spf] == [Level.WARNING]
    assert f"cannot tell whether SPF covers the relay {relay}: it is on this machine or a private network" \
        in spf[0].message
    assert "public address the mail leaves from" in spf[0].fix
    assert "ip4:127." not in spf[0].fix and "ip4:192.168." not in spf[0].fix


@pytest.mark.parametrize(("include", "level"), [
    ("spf.example.co.uk", Level.OK),  # the relay's own organization publishes its SPF
    ("spf.other.co.uk", Level.WARNING),  # another organization under the same public suffix
])
def test_the_relay_is_named_by_an_include_of_its_own_organizational_domain(project: Path, include: str,
                                                                           level: Level) -> None:
    relay = "smtp.relay.example.co.uk"
    configure(project, free_port(), bounces="")
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace(f'host = "{RELAY}"', f'host = "{relay}"'),
                      encoding="utf-8")
    records = good_records()
    records["example.org."] = [("TXT", txt(f"v=spf1 include:{include} -all"))]
    records[f"{include}."] = [("TXT", txt("v=spf1 ip4:198.51.100.0/24 -all"))]
    records[f"{relay}."] = [("A", "192.0.2.25")]
    with DnsServer(records) as dns:
        findings = diagnose(project, now=real_now(), environ=ENV, network=Network(nameservers=[f"127.0.0.1:{dns.port}"]))
    spf = [f for f in findings if f.check == "spf example.org"]
    assert [f.level for f in spf] == [level], "\n".join(f.line() for f in spf)
    if level is Level.WARNING:
        assert f"cannot tell whether SPF lets {relay} send for example.org" in spf[0].message
        assert "add ip4:192.0.2.25 before the all term" in spf[0].fix


@pytest.mark.parametrize(("check", "zone"), [
    ("spf example.org", {"example.org.": [("TXT", txt("v=spf1 include:spf.relay.example.net include:slow.example.net "
                                                      "-all")), ("MX", "10 mail.example.org.")]}),
    ("spf bounce.example.org", {"bounce.example.org.": [("TXT", txt("v=spf1 redirect=slow.example.net")),
                                                        ("MX", "10 mail.example.org.")]}),
])
def test_a_lookup_the_spf_library_makes_and_the_dns_leaves_unanswered_is_not_checked(project: Path, check: str,
                                                                                      zone: Records) -> None:
    configure(project, free_port())
    records = good_records()
    records.update(zone)
    with DnsServer(records, silent_for=frozenset({"slow.example.net."})) as dns:
        findings = diagnose(project, now=real_now(), environ=ENV,
                            network=Network(nameservers=[f"127.0.0.1:{dns.port}"], timeout=0.5))
    spf = [f for f in findings if f.check == check]
    assert [f.level for f in spf] == [Level.WARNING], "\n".join(f.line() for f in spf)
    assert spf[0].message.startswith("not checked: the DNS did not answer (") and "slow.example.net" in spf[0].message
    assert "slow.example.net." in {name for name, _ in dns.queries}


def test_loading_the_doctor_prints_no_library_warning() -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import newsletter.doctor"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == ""


def test_an_spf_exp_modifier_sends_no_lookup_to_another_resolver(project: Path) -> None:
    """checkdmarc 6.0.4 looks up exp='s explanation without the resolver it is given: the doctor gives it
    the same servers as a list too, so the lookup still goes to ours, not to the system's."""
    configure(project, free_port())
    records = good_records()
    records["example.org."] = [("TXT", txt("v=spf1 include:spf.relay.example.net -all exp=explain.example.org")),
                               ("MX", "10 mail.example.org.")]
    records["explain.example.org."] = [("TXT", txt("%{i} may not send for %{d}"))]
    with DnsServer(records) as dns:
        findings = diagnose(project, now=real_now(), environ=ENV, network=Network(nameservers=[f"127.0.0.1:{dns.port}"]))
    assert [f.line() for f in findings if f.check == "spf example.org"] == [
        "ok      spf example.org: SPF record present, one only, ends with -all or ~all"]
    assert ("explain.example.org.", "TXT") in dns.queries
