"""The DMARC check: the From domain's record (or its parent's), parsed by checkdmarc, and whether
DKIM or SPF can align with the From domain, on organizational domains from the Public Suffix List.

checkdmarc validates every tag (an invalid ``adkim=`` is discarded for the default, an unknown tag
is ignored, a report address needs a URI scheme) and checks the report destinations through our
resolver; what stays here is the policy we advise and the alignment of this project's own
domains: ``[dkim] domain`` and the envelope sender's.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from newsletter.config import Settings
from newsletter.doctor._checkdmarc import DMARCError, parse_dmarc_record
from newsletter.doctor.dkim import tags
from newsletter.doctor.lookup import Dns
from newsletter.doctor.organization import organizational_domain
from newsletter.core.i18n import Message, Quoted
from newsletter.doctor.report import Finding, error, ok, warning
from newsletter.errors import N_, DnsUnanswered

_POLICIES = ("none", "quarantine", "reject")
#: checkdmarc warnings that our own findings already say (with our fix): not repeated.
_SAID_HERE = ("p tag value of none", "sp tag value of none", "pct tag", "missing p tag")


def aligned(domain: str, from_domain: str, mode: str) -> bool:
    """Whether ``domain`` aligns with the From domain: the same name (strict, ``s``), or the same
    organizational domain (relaxed, anything else: DMARC's default)."""
    domain, from_domain = domain.lower().rstrip("."), from_domain.lower().rstrip(".")
    if domain == from_domain:
        return True
    return mode != "s" and organizational_domain(domain) == organizational_domain(from_domain)


def _find_dmarc(from_domain: str, lookup: Dns) -> tuple[str, list[str]]:
    """The DMARC records of the From domain, else of its nearest parent that has one (DMARCbis tree walk)."""
    labels = from_domain.split(".")
    for start in range(0, max(1, len(labels) - 1)):
        domain = ".".join(labels[start:])
        records = [t for t in lookup.txt(f"_dmarc.{domain}") if re.match(r"v\s*=\s*DMARC1\s*(;|$)", t)]
        if records:
            return domain, records
    return from_domain, []


def check_dmarc(settings: Settings, from_domain: str, envelope: str, lookup: Dns) -> list[Finding]:
    """:raises DnsUnanswered: when a lookup the record needs went unanswered."""
    check = f"dmarc {from_domain}"
    domain, records = _find_dmarc(from_domain, lookup)
    name = f"_dmarc.{domain}"
    where = Message(N_("%(name)s (the parent's record applies)"), {"name": name}) if domain != from_domain else name
    values = {"name": name, "from_domain": from_domain, "where": where,
              "example": f'_dmarc.{from_domain} TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{from_domain}"'}
    if not records:
        return [error(check, N_("no DMARC record at _dmarc.%(from_domain)s: Gmail and Yahoo refuse bulk mail without "
                                "one"), N_("publish %(example)s (p=none while you read the reports)"), **values)]
    if len(records) > 1:
        return [error(check, N_("%(count)d DMARC records at %(name)s: receivers ignore them all"), N_("keep one"),
                      count=len(records), **values)]
    raw = tags(records[0])
    if raw.get("p", "").lower() not in _POLICIES:  # RFC 7489 receivers ignore such a record
        return [error(check, N_("%(where)s has no valid p= policy (got %(policy)s)"), N_("publish %(example)s"),
                      policy=Quoted(raw.get("p", "")), **values)]
    mark = lookup.mark()
    try:
        parsed = parse_dmarc_record(records[0], domain, resolver=lookup.for_libraries, timeout=lookup.timeout)
    except DMARCError as err:
        lookup.answered_since(mark)
        return [error(check, N_("%(where)s is not a valid DMARC record: %(answer)s"),
                      N_("correct %(name)s, e.g. publish %(example)s"), answer=str(err), **values)]
    lookup.answered_since(mark)
    found: Mapping[str, Any] = parsed["tags"]
    findings = _policy(check, from_domain, domain, values, found, raw)
    findings.extend(warning(check, N_("%(name)s: %(answer)s"), N_("add rua=mailto:dmarc@%(from_domain)s to %(name)s to "
                                                                "receive the receivers' daily reports")
                            if "rua tag" in text else N_("correct %(name)s"), answer=text, **values)
                    for text in parsed["warnings"] if not any(said in text for said in _SAID_HERE))
    findings.extend(_alignment(settings, from_domain, envelope, str(found["adkim"]["value"]),
                               str(found["aspf"]["value"])))
    return findings


def _policy(check: str, from_domain: str, domain: str, values: Mapping[str, Any], found: Mapping[str, Any],
            raw: Mapping[str, str]) -> list[Finding]:
    findings: list[Finding] = []
    # The parent's record speaks for its subdomains with sp= (which defaults to p=).
    policy = str(found["sp"]["value"] if domain != from_domain else found["p"]["value"]).lower()
    if policy == "none":
        findings.append(warning(check, N_("%(where)s has p=none: spoofed mail from %(from_domain)s is still delivered"),
                                N_("once the rua reports show your mail passing, set p=quarantine (then p=reject) "
                                   "in %(name)s"), **values))
    else:
        findings.append(ok(check, N_("%(where)s has p=%(policy)s"), policy=policy, **values))
    if domain == from_domain and policy != "none" and found["sp"]["explicit"] and found["sp"]["value"] == "none":
        findings.append(warning(check, N_("sp=none: spoofed mail from subdomains of %(from_domain)s is still "
                                          "delivered"), N_("set sp=quarantine (or remove sp=, so p= applies)"),
                                **values))
    pct = raw.get("pct", "100")  # RFC 9989 drops pct=, which checkdmarc then ignores; RFC 7489 receivers apply it
    if policy in ("quarantine", "reject") and pct != "100":
        findings.append(warning(check, N_("pct=%(pct)s: the policy applies to only part of the failing mail"),
                                N_("remove pct= (100 is the default)"), pct=pct))
    return findings


def _alignment(settings: Settings, from_domain: str, envelope: str, adkim: str, aspf: str) -> list[Finding]:
    check = "alignment"
    results: list[Finding] = []
    dkim_ok = False
    strict, relaxed = Message(N_("strict")), Message(N_("relaxed"))
    if settings.dkim is not None:
        dkim_ok = aligned(settings.dkim.domain, from_domain, adkim)
        values = {"domain": settings.dkim.domain, "from_domain": from_domain, "adkim": adkim,
                  "mode": strict if adkim == "s" else relaxed, "quoted": Quoted(from_domain)}
        if dkim_ok:
            results.append(ok(check, N_("DKIM d=%(domain)s aligns with From %(from_domain)s (%(mode)s)"), **values))
        else:
            results.append(error(check, N_("DKIM d=%(domain)s does not align with From %(from_domain)s "
                                           "(%(mode)s, adkim=%(adkim)s)"), N_("set [dkim] domain = %(quoted)s"),
                                 **values))
    spf_ok = False
    if envelope:
        spf_ok = aligned(envelope, from_domain, aspf)
        values = {"envelope": envelope, "from_domain": from_domain, "aspf": aspf,
                  "mode": strict if aspf == "s" else relaxed}
        if spf_ok:
            results.append(ok(check, N_("the envelope sender's domain %(envelope)s aligns with From %(from_domain)s "
                                        "(%(mode)s) for SPF"), **values))
        else:
            fix = (N_("use a bounce address under %(from_domain)s (e.g. bounces@bounce.%(from_domain)s)")
                   if aspf != "s" else N_("use a bounce address @%(from_domain)s, or relax DMARC with aspf=r"))
            results.append(warning(check, N_("the envelope sender's domain %(envelope)s does not align with From "
                                             "%(from_domain)s (%(mode)s, aspf=%(aspf)s): SPF cannot make DMARC pass"),
                                   fix, **values))
    if not dkim_ok and not spf_ok and settings.delivery.adapter in ("smtp", "outbox"):
        results.append(error(check, N_("neither DKIM nor SPF aligns with the From domain: DMARC fails for every "
                                       "message"), N_("sign with [dkim] domain = %(quoted)s, or send with a bounce "
                                                      "address under %(from_domain)s"),
                             quoted=Quoted(from_domain), from_domain=from_domain))
    return results
