"""The DKIM check: each selector's record is published and holds the public half of its key (RSA, and
Ed25519 beside it); an Ed25519 key alone is a warning, since most receivers do not verify it yet.

A mail API signs with the key set up in its dashboard, so only our own signing (SMTP, outbox) is checked.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from newsletter.config import Settings
from newsletter.doctor.lookup import Dns
from newsletter.doctor.report import Finding, error, ok, warning
from newsletter.core.i18n import Quoted
from newsletter.errors import N_


def tags(record: str) -> dict[str, str]:
    """``tag=value`` pairs of a DKIM or DMARC record (names lower-cased, values stripped, the first one kept)."""
    found: dict[str, str] = {}
    for part in record.split(";"):
        name, eq, value = part.partition("=")
        if eq:
            found.setdefault(name.strip().lower(), value.strip())
    return found


def _dkim_public(key_file: Path) -> tuple[str, bytes, str]:
    """``(k, p bytes, record text)`` of the key in ``key_file`` as DNS publishes it."""
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        kind, raw = "ed25519", key.public_key().public_bytes(serialization.Encoding.Raw,
                                                              serialization.PublicFormat.Raw)
    else:
        kind, raw = "rsa", key.public_key().public_bytes(serialization.Encoding.DER,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    return kind, raw, f"v=DKIM1; k={kind}; p={base64.b64encode(raw).decode('ascii')}"


def _same_rsa_key(published: bytes, ours: bytes) -> bool:
    """RSA keys compared by their numbers: DNS may hold SubjectPublicKeyInfo or a bare PKCS#1 key."""
    mine = serialization.load_der_public_key(ours)
    try:
        theirs = serialization.load_der_public_key(published)
    except (ValueError, TypeError):
        return False
    return (isinstance(theirs, rsa.RSAPublicKey) and isinstance(mine, rsa.RSAPublicKey)
            and theirs.public_numbers() == mine.public_numbers())


def check_dkim(settings: Settings, lookup: Dns) -> list[Finding]:
    dkim = settings.dkim
    adapter = settings.delivery.adapter
    if dkim is None:
        if adapter in ("smtp", "outbox"):
            return [warning("dkim", N_("messages are not DKIM-signed: Gmail and Yahoo require DKIM from bulk senders"),
                            N_("add a [dkim] table (selector, domain, private_key_file) and publish its public key"))]
        return [ok("dkim", N_("not checked here: %(adapter)s signs with the key set up in its dashboard, where the "
                              "domain must show as verified"), adapter=adapter)]
    findings: list[Finding] = []
    kinds: list[str] = []
    for selector, key_file in dkim.keys:
        kind, finding = _dkim_key(selector, dkim.domain, key_file, lookup)
        kinds.append(kind)
        findings.append(finding)
    if kinds == ["ed25519"]:
        findings.append(warning("dkim", N_("messages carry only an Ed25519 signature, which most receivers do not "
                                           "verify yet (RFC 8463): to them the mail is unsigned"),
                                N_("add an RSA key beside it: `newsletter dkim keygen %(selector)s-rsa`, then set "
                                   "selector and private_key_file to the RSA key and ed25519_selector and "
                                   "ed25519_private_key_file to this one"), selector=dkim.selector))
    return findings


def _dkim_key(selector: str, domain: str, key_file: Path, lookup: Dns) -> tuple[str, Finding]:
    """The key's type (``""`` when unreadable) and whether DNS publishes its public half."""
    name = f"{selector}._domainkey.{domain}"
    check = f"dkim {name}"
    try:
        kind, ours, record = _dkim_public(key_file)
    except (OSError, ValueError, TypeError) as err:  # changed since the configuration was read
        return "", error(check, N_("%(file)s cannot be read as a key any more: %(error)s"),
                         N_("restore the key file (PEM, unencrypted, mode 0600) or point [dkim] at it"),
                         file=key_file, error=err.__class__.__name__)
    publish = N_('publish %(name)s TXT "%(record)s"')
    records = [t for t in lookup.txt(name) if "p=" in t.replace(" ", "")]
    values = {"name": name, "record": record, "file": key_file.name, "kind": kind}
    if not records:
        return kind, error(check, N_("no DKIM key at %(name)s: receivers cannot verify the signature"), publish,
                           **values)
    if len(records) > 1:
        return kind, error(check, N_("%(count)d DKIM records at %(name)s; verifiers may pick either"),
                           N_('keep one: publish %(name)s TXT "%(record)s"'), count=len(records), **values)
    found = tags(records[0])
    if found.get("v", "DKIM1") != "DKIM1":
        return kind, error(check, N_("the record's v= tag is %(tag)s, not DKIM1"), publish, tag=Quoted(found["v"]),
                           **values)
    p = re.sub(r"\s+", "", found.get("p", ""))
    if not p:
        return kind, error(check, N_("the key is revoked (empty p=)"), publish, **values)
    try:
        theirs = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError):
        return kind, error(check, N_("p= is not valid base64"), publish, **values)
    if found.get("k", "rsa").lower() != kind:
        return kind, error(check, N_("the record says k=%(said)s but %(file)s is an %(kind)s key"), publish,
                           said=found.get("k", "rsa"), **values)
    matches = theirs == ours if kind == "ed25519" else _same_rsa_key(theirs, ours)
    if not matches:
        return kind, error(check, N_("the key at %(name)s is not the public half of %(file)s: every signature fails"),
                           publish, **values)
    if "y" in found.get("t", "").lower().split(":"):
        return kind, warning(check, N_("the key is in test mode (t=y): receivers treat signatures as unsigned"),
                             N_("remove t=y from the record"), **values)
    return kind, ok(check, N_("the published %(kind)s key matches %(file)s"), **values)
