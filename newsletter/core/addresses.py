"""Email addresses: the one form the store keeps, and the form that goes on the wire.

An address is stored in **one canonical form**, so that the same mailbox written two ways is
one subscriber: validated by ``email_validator``, the domain as IDNA U-labels (``bücher.example``
and ``xn--bcher-kva.example`` both become ``bücher.example``), the whole address lower-cased
and in Unicode NFC. It is the form unsubscribe tokens and Message-IDs are derived from.

On the wire (SMTP envelope, ``To`` header, mail-API fields) the domain goes as IDNA A-labels
(ASCII), which every server understands. A non-ASCII *local part* (``paul.lefèvre@…``) has no
ASCII form: it travels only where the transport supports internationalized email (SMTPUTF8,
RFC 6531/6532); :func:`needs_smtputf8` says when that is the case.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

import idna
from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email

from newsletter.errors import AddressError
from newsletter.core.i18n import N_, Message, Quoted

#: Why a message to a non-ASCII local part cannot go through a transport without SMTPUTF8.
NO_SMTPUTF8 = ("the address has a non-ASCII local part (before the @) and can travel only as internationalized "
               "email (SMTPUTF8, RFC 6531)")


def canonical(address: str, *, check_dns: bool = False) -> str:
    """The form the store keeps: validated, U-label domain, lower case, NFC.

    :param check_dns: also check that the domain accepts mail (network; slow).
    :raises AddressError: when the address is not valid.
    """
    try:
        info = validate_email(address.strip(), check_deliverability=check_dns)
    except EmailNotValidError as err:
        raise AddressError(N_("%(address)s is not a valid address: %(reason)s"),
                           values={"address": Quoted(address[:80]), "reason": invalid_reason(err)}) from err
    return unicodedata.normalize("NFC", info.normalized.lower())


#: email_validator's reasons (English only) by the words that tell their kind, each said in ours: what a
#: page or a command shows is in the reader's language. The first match wins; the last is the fallback.
_REASONS = (
    ("must have an @-sign", N_("it has no @")),
    ("small commercial at", N_("it has a ＠ in place of an @")),
    ("something before the @-sign", N_("nothing comes before the @")),
    ("something after the @-sign", N_("nothing comes after the @")),
    ("two periods in a row", N_("it has two dots in a row")),
    ("period and a hyphen", N_("it has a dot next to a hyphen")),
    ("too long", N_("it is too long")),
    ("should have a period", N_("the domain after the @ has no dot (e.g. example.org)")),
    ("display name", N_("write the address alone, without a name or < >")),
    ("angle bracket", N_("write the address alone, without a name or < >")),
    ("anything after the email address", N_("something follows the address")),
    ("quot", N_("it has quotation marks")),
    ("character", N_("it holds a character an address cannot hold (a space, a comma, an accent before the @…)")),
    ("not valid ascii", N_("it holds a character an address cannot hold (a space, a comma, an accent before the @…)")),
    ("after the @-sign", N_("the domain after the @ is not valid")),
    ("", N_("it is not written as an address (e.g. camille@example.org)")),
)


def invalid_reason(err: EmailNotValidError) -> Message:
    """Why email_validator refused an address, in words every catalog knows (its own are English only)."""
    text = str(err)
    if isinstance(err, EmailUndeliverableError):
        if "does not exist" in text:
            return Message(N_("its domain does not exist"))
        return Message(N_("its domain does not accept mail"))
    return Message(next(said for words, said in _REASONS if words in text.lower()))


def split(address: str) -> tuple[str, str]:
    """``(local part, domain)`` of an address (split at its last ``@``)."""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise AddressError(N_("%(address)s is not an address (local@domain)"), values={"address": Quoted(address[:80])})
    return local, domain


def ascii_domain(domain: str) -> str:
    """The domain as IDNA A-labels (``xn--…``), as DNS and SMTP know it.

    :raises AddressError: when the domain has no IDNA form.
    """
    if domain.isascii():
        return domain.lower()
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as err:
        raise AddressError(N_("the domain %(domain)s has no IDNA (ASCII) form: %(reason)s"),
                           values={"domain": Quoted(domain[:80]), "reason": str(err)}) from err


def wire(address: str) -> str:
    """The address as it goes on the wire: the domain in A-labels, the local part as it is.

    :raises AddressError: when the address cannot be written so.
    """
    local, domain = split(address)
    return f"{local}@{ascii_domain(domain)}"


_A_LABEL = re.compile(r"xn--[a-z0-9-]+")


def stored_form(text: str) -> str:
    """A piece of an address written as the store keeps it: NFC, lower case, ``xn--`` labels as U-labels.

    For searching: an operator may paste ``bob@xn--bcher-kva.example`` from a bounce report or
    type a decomposed accent; both must find ``bob@bücher.example``. A label that is not a valid
    A-label is left as it is.
    """
    def decode(match: re.Match[str]) -> str:
        try:
            return str(idna.decode(match.group()))
        except (idna.IDNAError, UnicodeError):
            return match.group()

    return _A_LABEL.sub(decode, unicodedata.normalize("NFC", text).lower())


def needs_smtputf8(address: str) -> bool:
    """Whether the address can travel only with SMTPUTF8 (its local part is not ASCII)."""
    return not address.isascii() and not split(address)[0].isascii()


__all__ = ["NO_SMTPUTF8", "AddressError", "ascii_domain", "canonical", "needs_smtputf8", "split", "stored_form", "wire"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine (where a plain connection cannot be overheard)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
