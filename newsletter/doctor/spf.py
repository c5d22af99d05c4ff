"""The SPF check: the record receivers read for our mail, parsed and followed by checkdmarc.

checkdmarc validates the record against RFC 7208's grammar (macros, modifiers, networks), follows
``include:`` and ``redirect=`` through our resolver (:attr:`Dns.for_libraries`), and counts the
DNS lookups (at most 10) and the void ones (at most 2). What stays here is what only this project
knows: which relay must be covered (the SMTP host's addresses, or a mail API's include, from
:func:`provider_spf`, from the providers' declarations), and the finding and fix we give for each outcome.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from newsletter import providers
from newsletter.config import Settings
from newsletter.core.i18n import Message, Quoted
from newsletter.errors import N_, ConfigError, DnsUnanswered
from newsletter.doctor._checkdmarc import (SPFError, SPFIncludeLoop, SPFRecordNotFound, SPFRedirectLoop,
                                           SPFSyntaxError, SPFTooManyVoidDNSLookups, parse_spf_record)
from newsletter.doctor.lookup import Dns
from newsletter.doctor.organization import organizational_domain
from newsletter.doctor.report import Finding, Level, error, ok, warning

SPF_LOOKUP_LIMIT = 10  # RFC 7208 section 4.6.4


@dataclass(frozen=True)
class ProviderSpf:
    """What a mail API's SPF looks like when it sends with the customer's envelope domain."""

    include: str  # the include: its documentation asks for
    domains: tuple[str, ...]  # an include:/a/mx of one of these (or of a subdomain) counts as the provider's


def provider_spf(adapter: str) -> ProviderSpf | None:
    """The SPF of the mail API ``adapter`` sends through, from its provider's declaration
    (:attr:`~newsletter.providers.Provider.spf_includes`); ``None`` for SMTP, the outbox, an adapter
    without a provider, and a broken plug-in (the delivery check's finding)."""
    try:
        provider = providers.find(adapter)
    except ConfigError:
        return None
    if provider is None or not provider.spf_includes:
        return None
    return ProviderSpf(provider.advised_spf_term.removeprefix("include:"), provider.spf_includes)


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Addresses a relay can have that are not what the Internet sees: the machine itself, private networks.
_LOCAL_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
    "::1/128", "fc00::/7", "fe80::/10"))


def _is_local(text: str) -> bool:
    ip = ipaddress.ip_address(text)
    return any(ip.version == net.version and ip in net for net in _LOCAL_NETWORKS)


@dataclass
class Relay:
    """What should appear in SPF for the mail to pass: the SMTP relay's name and addresses, or an API's include."""

    label: str = ""
    names: tuple[str, ...] = ()  # domains whose appearance in include/a/mx/redirect counts as "mentioned"
    ips: tuple[str, ...] = ()
    include: str = ""  # the term to advise, for a mail API

    @classmethod
    def of(cls, settings: Settings, lookup: Dns) -> "Relay":
        adapter = settings.delivery.adapter
        api = provider_spf(adapter)
        if api is not None:
            return cls(adapter, api.domains, include=api.include)
        if adapter != "smtp":
            return cls()
        host = str(settings.delivery.adapters.get("smtp", {}).get("host", "")).lower().rstrip(".").strip("[]")
        try:
            ips: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
            names: tuple[str, ...] = ()
        except ValueError:
            # The relay's organization (smtp.relay.example.co.uk: example.co.uk): its include: counts as naming it.
            organization = organizational_domain(host) if "." in host else ""
            names = (organization,) if organization else ()
            try:
                ips = tuple(lookup.addresses(host)) if names else ()
            except DnsUnanswered:
                ips = ()
        # A relay on this machine or the local network sends from an address only the operator knows.
        public = tuple(ip for ip in ips if not _is_local(ip))
        if ips and not public:
            return cls(host)
        return cls(host, names, public)

    def mentioned(self, targets: list[str], networks: list[IPNetwork]) -> bool:
        for target in targets:
            target = target.lower().rstrip(".")
            if any(target == name or target.endswith("." + name) for name in self.names):
                return True
        for text in self.ips:
            ip = ipaddress.ip_address(text)
            if any(ip.version == net.version and ip in net for net in networks):
                return True
        return False

    def term(self) -> str:
        """The SPF term to advise for this relay."""
        if self.include:
            return f"include:{self.include}"
        if self.ips:
            ip = ipaddress.ip_address(self.ips[0])
            return f"ip{ip.version}:{ip}"
        return "include:YOUR-RELAY'S-SPF-DOMAIN"


def spf_records(txt: list[str]) -> list[str]:
    return [t for t in txt if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]


_ALL = re.compile(r"[-+~?]?all", re.IGNORECASE)
_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_LOOKUP_MECHANISMS = ("include", "a", "mx", "ptr", "exists")


def check_spf(domain: str, txt: list[str], relay: Relay, lookup: Dns, *, must_cover: bool) -> list[Finding]:
    """The findings for one domain's SPF; ``must_cover``: receivers check this record for our mail,
    so it should cover the relay (else it is the From domain's, while the envelope uses another).

    :raises DnsUnanswered: when a lookup the record needs (an include, a redirect) went unanswered.
    """
    check = f"spf {domain}"
    records = spf_records(txt)
    if not records:
        return [error(check, N_("%(domain)s has no SPF record: receivers cannot tell which servers may send for it"),
                      N_('publish %(domain)s TXT "v=spf1 %(term)s -all"'), domain=domain, term=relay.term())]
    if len(records) > 1:
        return [error(check, N_("%(domain)s has %(count)d SPF records; receivers then fail SPF (RFC 7208 4.5)"),
                      N_("merge them into one TXT record starting with v=spf1"), domain=domain, count=len(records))]
    mark = lookup.mark()
    try:
        result = parse_spf_record(records[0], domain, resolver=lookup.for_libraries, timeout=lookup.timeout,
                                  nameservers=lookup.nameservers, ignore_too_many_lookups=True)
    except SPFError as err:
        lookup.answered_since(mark)  # a missing answer, not a missing record
        return [_refused(check, records[0], err)]
    lookup.answered_since(mark)
    findings = _outcome(check, result)
    if relay.label and must_cover:
        findings.append(_coverage(check, domain, relay, result))
    elif not any(f.level is not Level.OK for f in findings):
        findings.append(ok(check, N_("SPF record present, one only, ends with -all or ~all")))
    return findings


def _refused(check: str, record: str, err: SPFError) -> Finding:
    """The one finding for a record that receivers fail as a whole (a permerror)."""
    detail = str(err)
    if isinstance(err, (SPFIncludeLoop, SPFRedirectLoop)):
        return error(check, N_("SPF has an include: loop (%(answer)s): receivers fail it"),
                     N_("remove the include: that leads back to a record already included"), answer=detail)
    if isinstance(err, SPFRecordNotFound) and err.domain:  # ours was given, not fetched: an include's
        return error(check, N_("%(domain)s (named by include:/redirect=) has no SPF record, which makes SPF fail"),
                     N_("correct or remove that include:/redirect="), domain=err.domain)
    if isinstance(err, SPFTooManyVoidDNSLookups):
        return _void(check)
    if isinstance(err, SPFSyntaxError):
        return _syntax(check, record, detail)
    return error(check, N_("receivers fail this SPF record: %(answer)s"),
                 N_("correct the record (RFC 7208 section 12 gives its grammar)"), answer=detail)


def _void(check: str) -> Finding:
    return error(check, N_("SPF names more than 2 domains whose DNS lookups find nothing: receivers fail it "
                           "(RFC 7208 4.6.4)"), N_("remove the terms that name domains without records (a:, mx:, "
                                                   "include:), or publish those records"))


def _syntax(check: str, record: str, detail: str) -> Finding:
    """checkdmarc's syntax error, said of the term it blames when that term can be named."""
    for term in record.split()[1:]:
        if "=" in term:
            continue
        name, _, value = term.lstrip("+-~?").partition(":")
        name = name.split("/")[0].lower()
        if name not in _MECHANISMS and name and name in detail:
            return error(check, N_("SPF term %(term)s is not a valid mechanism: receivers refuse the whole record"),
                         N_("keep only all, include:, a, mx, ip4:, ip6:, exists: and redirect= terms"), term=Quoted(term))
        if name in ("ip4", "ip6") and value and value in detail:
            return error(check, N_("SPF term %(term)s is not a valid %(name)s network (the record is refused as a "
                                   "whole)"), N_("correct it, e.g. %(example)s"), term=Quoted(term), name=name,
                         example="ip4:192.0.2.0/24" if name == "ip4" else "ip6:2001:db8::/32")
    return error(check, N_("SPF record is refused as a whole: %(answer)s"),
                 N_("correct the record (RFC 7208 section 12 gives its grammar)"), answer=detail)


def _outcome(check: str, result: Mapping[str, Any]) -> list[Finding]:
    """What is wrong with a record that parses: lookups, ptr, the all term (also through redirect=)."""
    findings: list[Finding] = []
    parsed = result["parsed"]
    lookups = int(result.get("dns_lookups", 0))
    if lookups > SPF_LOOKUP_LIMIT:
        findings.append(error(check, N_("SPF needs more than %(limit)d DNS lookups (%(count)d counted, includes "
                                        "followed): receivers fail it (RFC 7208 4.6.4)"),
                              N_("replace some include:/a/mx terms by ip4:/ip6: networks"),
                              limit=SPF_LOOKUP_LIMIT, count=lookups))
    elif "void" in str(result.get("error", "")):
        findings.append(_void(check))
    elif result.get("error"):
        findings.append(error(check, N_("receivers fail this SPF record: %(answer)s"),
                              N_("correct the record (RFC 7208 section 12 gives its grammar)"),
                              answer=str(result["error"])))
    if any(m.get("mechanism") == "ptr" for m in parsed["mechanisms"]):
        findings.append(warning(check, N_("SPF uses ptr, which is slow and which many receivers ignore (RFC 7208 5.5)"),
                                N_("replace ptr by ip4:/ip6: or include: terms")))
    ending, through = _ending(str(result["record"]), parsed)
    via = Message(N_(" (through redirect=%(domain)s)"), {"domain": through}) if through else ""
    if ending == "pass":
        findings.append(error(check, N_("SPF ends with +all%(via)s: every server on the Internet may send as this "
                                        "domain"), N_('end the record with "-all" (or "~all" while testing)'), via=via))
    elif ending == "neutral":
        findings.append(warning(check, N_("SPF ends with ?all (neutral)%(via)s: it says nothing about other servers"),
                                N_('end the record with "-all" (or "~all")'), via=via))
    elif not ending:
        findings.append(warning(check, N_("SPF has no all term: other servers get a neutral result"),
                                N_('end the record with "-all" (or "~all")')))
    for text in result.get("warnings", []):
        findings.append(warning(check, N_("SPF: %(answer)s"), N_("correct the record"), answer=text))
    return findings


def _ending(record: str, parsed: Mapping[str, Any], through: str = "") -> tuple[str, str]:
    """``(result for a server the record does not list, the redirect= domain it comes from)``; ``""``
    when no record on the redirect chain has an all term (RFC 7208 6.1: all wins over redirect=)."""
    if any(_ALL.fullmatch(term) for term in record.split()[1:]):
        return str(parsed["all"]), through
    redirect = parsed.get("redirect")
    if redirect and redirect.get("parsed"):
        return _ending(str(redirect.get("record", "")), redirect["parsed"], through or str(redirect["domain"]))
    return "", through


def _coverage(check: str, domain: str, relay: Relay, result: Mapping[str, Any]) -> Finding:
    parsed = result["parsed"]
    targets = [str(m["value"]) for m in parsed["mechanisms"] if m.get("mechanism") in _LOOKUP_MECHANISMS
               and m.get("value")]
    if parsed.get("redirect"):
        targets.append(str(parsed["redirect"]["domain"]))
    if relay.mentioned(targets, list(_networks(parsed))):
        return ok(check, N_("SPF record present and it covers the relay (%(relay)s)"), relay=relay.label)
    if relay.names or relay.ips:
        said = (N_("cannot tell whether SPF lets %(relay)s send for %(domain)s: no include/ip term names it (needed "
                   "only when the provider sends with your domain as envelope sender)")
                if provider_spf(relay.label) is not None else
                N_("cannot tell whether SPF lets %(relay)s send for %(domain)s: no include/ip term names it"))
        return warning(check, said, N_("add %(term)s before the all term, as %(relay)s's documentation says"),
                       relay=relay.label, domain=domain, term=relay.term())
    return warning(check, N_("cannot tell whether SPF covers the relay %(relay)s: it is on this machine or a private "
                             "network"), N_("make sure SPF lists the public address the mail leaves from (ip4:/ip6:, "
                                            "or the include: of the relay %(relay)s uses)"), relay=relay.label)


def _networks(parsed: Mapping[str, Any] | None) -> Iterator[IPNetwork]:
    """Every ip4:/ip6: network of the record and of the records it includes or redirects to."""
    if not parsed:
        return
    for mechanism in parsed["mechanisms"]:
        if mechanism.get("mechanism") in ("ip4", "ip6"):
            yield ipaddress.ip_network(str(mechanism["value"]), strict=False)
        elif mechanism.get("mechanism") == "include":
            yield from _networks(mechanism.get("parsed"))
    if parsed.get("redirect"):
        yield from _networks(parsed["redirect"].get("parsed"))
