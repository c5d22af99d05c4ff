"""Where and how the doctor asks the DNS: the resolver, a timeout on every lookup, and giving up on a dead DNS.

The checks ask through :class:`Dns`, and so do the field libraries they use (checkdmarc follows
SPF includes and DMARC report addresses itself): it hands them :attr:`Dns.for_libraries`, a
resolver that goes through the same timeouts, so a dead DNS still costs two timeouts in all, and
that remembers a lookup left unanswered, so the check says "not checked" instead of reporting what
a library concluded from a missing answer.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from newsletter.core.i18n import Quoted
from newsletter.doctor._checkdmarc import DNS_CACHE
from newsletter.doctor.report import Finding, warning
from newsletter.errors import N_, ConfigError, DnsUnanswered, UsageError


@dataclass(frozen=True)
class Network:
    """Where and how long the doctor looks: DNS servers, their port, the timeout, the CA bundle."""

    nameservers: Sequence[str] = ()  # "IP" or "IP:PORT" ("[IPv6]:PORT"); empty: the system's (/etc/resolv.conf)
    timeout: float = 5.0  # seconds per DNS lookup and per socket operation
    ca_file: Path | None = None  # trust these CAs for base_url instead of the system's
    resolver: dns.resolver.Resolver | None = field(default=None, compare=False)  # injected as is when given

    def make_resolver(self) -> dns.resolver.Resolver:
        if self.resolver is not None:
            return self.resolver
        if self.nameservers:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(*parse_nameserver(text))
                                    for text in self.nameservers]
        else:
            try:
                resolver = dns.resolver.Resolver()
            except dns.resolver.NoResolverConfiguration:
                raise ConfigError(N_("this machine has no DNS resolver configured (/etc/resolv.conf)"),
                                  hint=N_("name one: newsletter doctor --nameserver 1.1.1.1")) from None
        resolver.timeout = resolver.lifetime = self.timeout
        resolver.cache = None
        return resolver


def parse_nameserver(text: str) -> tuple[str, int]:
    """``(address, port)`` of ``IP``, ``IP:PORT`` or ``[IPv6]:PORT``.

    :raises UsageError: for anything else (a DNS server is given by address, not by name).
    """
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([0-9.]+):(\d{1,5})|([0-9A-Fa-f:.]+)", text.strip())
    address, port = "", 53
    if match:
        address = match.group(1) or match.group(3) or match.group(5)
        port = int(match.group(2) or match.group(4) or 53)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise UsageError(N_("--nameserver %(value)s is not an IP address (optionally with :PORT), e.g. "
                            "--nameserver 1.1.1.1 or --nameserver 127.0.0.1:5353"), values={"value": Quoted(text)}) \
            from None
    if not 0 < port < 65536:
        raise UsageError(N_("--nameserver %(value)s: the port must be between 1 and 65535"),
                         values={"value": Quoted(text)})
    return address, port


class Dns:
    """Lookups with a timeout each; after two timeouts in a row the DNS is taken as down and the
    remaining lookups fail at once, so a dead resolver costs two timeouts, not one per record."""

    GIVE_UP_AFTER = 2

    def __init__(self, resolver: dns.resolver.Resolver, timeout: float) -> None:
        self.resolver = resolver
        self.timeout = timeout
        self.timeouts = 0
        self.failures: list[DnsUnanswered] = []
        self.for_libraries: dns.resolver.Resolver = _Watched(self)
        # checkdmarc keeps answers in a module-wide cache for 30 minutes; a diagnosis reads the DNS as it
        # is now (the operator has just fixed a record), so each one starts from an empty cache.
        DNS_CACHE.clear()

    @property
    def nameservers(self) -> list[dns.nameserver.Nameserver]:
        """Our resolver's servers, for the one lookup checkdmarc (6.0.4) makes without the resolver it is
        given (the TXT record of an SPF exp= modifier), which would otherwise go to the system's."""
        return [server if isinstance(server, dns.nameserver.Nameserver)
                else dns.nameserver.Do53Nameserver(server, self.resolver.port) for server in self.resolver.nameservers]

    def ask(self, name: str, rdtype: str, *, raise_on_no_answer: bool = False) -> dns.resolver.Answer:
        """The answer for ``name``/``rdtype``; NXDOMAIN (and NoAnswer when asked) as dnspython raises them.

        :raises DnsUnanswered: on a timeout or another DNS failure, also remembered in :attr:`failures`.
        """
        if self.timeouts >= self.GIVE_UP_AFTER:
            raise self._failed(DnsUnanswered(N_("%(kind)s %(name)s: skipped after %(count)d timeouts"),
                                             values={"kind": rdtype, "name": name, "count": self.timeouts}))
        try:
            answer = self.resolver.resolve(name, rdtype, lifetime=self.timeout, search=False,
                                           raise_on_no_answer=raise_on_no_answer)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            self.timeouts = 0
            raise
        except dns.exception.Timeout as err:
            self.timeouts += 1
            raise self._failed(DnsUnanswered(N_("%(kind)s %(name)s: no answer within %(seconds)s s"),
                                             values={"kind": rdtype, "name": name,
                                                     "seconds": f"{self.timeout:g}"})) from err
        except dns.exception.DNSException as err:
            raise self._failed(DnsUnanswered(f"{rdtype} {name}: {err.__class__.__name__}")) from err  # no words
        self.timeouts = 0
        return answer

    def _failed(self, err: DnsUnanswered) -> DnsUnanswered:
        self.failures.append(err)
        return err

    def mark(self) -> int:
        """A point to compare with :meth:`answered_since` around a library's lookups."""
        return len(self.failures)

    def answered_since(self, mark: int) -> None:
        """:raises DnsUnanswered: the first lookup since ``mark`` that the DNS left unanswered."""
        if len(self.failures) > mark:
            raise self.failures[mark]

    def _records(self, name: str, rdtype: str) -> list[Any]:
        try:
            answer = self.ask(name, rdtype)
        except dns.resolver.NXDOMAIN:
            return []
        return list(answer.rrset) if answer.rrset is not None else []

    def txt(self, name: str) -> list[str]:
        """Each TXT record at ``name``, its strings joined (a long record is split into 255-byte strings)."""
        return [b"".join(r.strings).decode("utf-8", "replace") for r in self._records(name, "TXT")]

    def mx(self, name: str) -> list[tuple[int, str]]:
        return sorted((r.preference, r.exchange.to_text(omit_final_dot=True).lower())
                      for r in self._records(name, "MX"))

    def addresses(self, name: str) -> list[str]:
        return [r.address for kind in ("A", "AAAA") for r in self._records(name, kind)]


class _Watched(dns.resolver.Resolver):
    """The resolver handed to checkdmarc: its lookups are :meth:`Dns.ask`'s, and one left unanswered
    reaches the library as the timeout it expects (and stays in :attr:`Dns.failures`)."""

    def __init__(self, owner: Dns) -> None:
        super().__init__(configure=False)
        self.owner = owner
        self.timeout = self.lifetime = owner.timeout

    def resolve(self, qname: Any, rdtype: Any = "A", *args: Any, **kwargs: Any) -> dns.resolver.Answer:
        try:
            kind = rdtype if isinstance(rdtype, str) else dns.rdatatype.to_text(rdtype)
            return self.owner.ask(str(qname), kind, raise_on_no_answer=kwargs.get("raise_on_no_answer", True))
        except DnsUnanswered as err:
            raise dns.exception.Timeout(timeout=self.owner.timeout) from err


def unanswered(check: str, err: DnsUnanswered) -> Finding:
    return warning(check, N_("not checked: the DNS did not answer (%(error)s)"),
                   N_("run again, or ask another resolver with --nameserver (e.g. your provider's)"), error=err)
