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
from newsletter.doctor.report import Finding, error, ok, warning
from newsletter.errors import DnsUnanswered

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
    example = f'_dmarc.{from_domain} TXT "v=DMARC1; p=quarantine; rua=mailto:dmarc@{from_domain}"'
    if not records:
        return [error(check, f"no DMARC record at _dmarc.{from_domain}: Gmail and Yahoo refuse bulk mail without "
                      "one", f"publish {example} (p=none while you read the reports)")]
    if len(records) > 1:
        return [error(check, f"{len(records)} DMARC records at _dmarc.{domain}: receivers ignore them all",
                      "keep one")]
    name = f"_dmarc.{domain}"
    where = name + (" (the parent's record applies)" if domain != from_domain else "")
    raw = tags(records[0])
    if raw.get("p", "").lower() not in _POLICIES:  # RFC 7489 receivers ignore such a record
        return [error(check, f"{where} has no valid p= policy (got {raw.get('p', '')!r})", f"publish {example}")]
    mark = lookup.mark()
    try:
        parsed = parse_dmarc_record(records[0], domain, resolver=lookup.for_libraries, timeout=lookup.timeout)
    except DMARCError as err:
        lookup.answered_since(mark)
        return [error(check, f"{where} is not a valid DMARC record: {err}", f"correct {name}, e.g. publish {example}")]
    lookup.answered_since(mark)
    found: Mapping[str, Any] = parsed["tags"]
    findings = _policy(check, from_domain, domain, where, found, raw)
    findings.extend(warning(check, f"{name}: {text}", f"add rua=mailto:dmarc@{from_domain} to {name} to receive "
                            "the receivers' daily reports" if "rua tag" in text else f"correct {name}")
                    for text in parsed["warnings"] if not any(said in text for said in _SAID_HERE))
    findings.extend(_alignment(settings, from_domain, envelope, str(found["adkim"]["value"]),
                               str(found["aspf"]["value"])))
    return findings


def _policy(check: str, from_domain: str, domain: str, where: str, found: Mapping[str, Any],
            raw: Mapping[str, str]) -> list[Finding]:
    findings: list[Finding] = []
    # The parent's record speaks for its subdomains with sp= (which defaults to p=).
    policy = str(found["sp"]["value"] if domain != from_domain else found["p"]["value"]).lower()
    if policy == "none":
        findings.append(warning(check, f"{where} has p=none: spoofed mail from {from_domain} is still delivered",
                                f"once the rua reports show your mail passing, set p=quarantine (then p=reject) "
                                f"in {where.split(' ')[0]}"))
    else:
        findings.append(ok(check, f"{where} has p={policy}"))
    if domain == from_domain and policy != "none" and found["sp"]["explicit"] and found["sp"]["value"] == "none":
        findings.append(warning(check, f"sp=none: spoofed mail from subdomains of {from_domain} is still delivered",
                                "set sp=quarantine (or remove sp=, so p= applies)"))
    pct = raw.get("pct", "100")  # RFC 9989 drops pct=, which checkdmarc then ignores; RFC 7489 receivers apply it
    if policy in ("quarantine", "reject") and pct != "100":
        findings.append(warning(check, f"pct={pct}: the policy applies to only part of the failing mail",
                                "remove pct= (100 is the default)"))
    return findings


def _alignment(settings: Settings, from_domain: str, envelope: str, adkim: str, aspf: str) -> list[Finding]:
    check = "alignment"
    results: list[Finding] = []
    dkim_ok = False
    if settings.dkim is not None:
        dkim_ok = aligned(settings.dkim.domain, from_domain, adkim)
        mode = "strict" if adkim == "s" else "relaxed"
        if dkim_ok:
            results.append(ok(check, f"DKIM d={settings.dkim.domain} aligns with From {from_domain} ({mode})"))
        else:
            results.append(error(check, f"DKIM d={settings.dkim.domain} does not align with From {from_domain} "
                                 f"({mode}, adkim={adkim})", f"set [dkim] domain = {from_domain!r}"))
    spf_ok = False
    if envelope:
        spf_ok = aligned(envelope, from_domain, aspf)
        mode = "strict" if aspf == "s" else "relaxed"
        if spf_ok:
            results.append(ok(check, f"the envelope sender's domain {envelope} aligns with From {from_domain} "
                              f"({mode}) for SPF"))
        else:
            fix = (f"use a bounce address under {from_domain} (e.g. bounces@bounce.{from_domain})"
                   if aspf != "s" else f"use a bounce address @{from_domain}, or relax DMARC with aspf=r")
            results.append(warning(check, f"the envelope sender's domain {envelope} does not align with From "
                                   f"{from_domain} ({mode}, aspf={aspf}): SPF cannot make DMARC pass", fix))
    if not dkim_ok and not spf_ok and settings.delivery.adapter in ("smtp", "outbox"):
        results.append(error(check, "neither DKIM nor SPF aligns with the From domain: DMARC fails for every message",
                             f"sign with [dkim] domain = {from_domain!r}, or send with a bounce address under "
                             f"{from_domain}"))
    return results
