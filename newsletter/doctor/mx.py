"""The bounce domain's check: it has an MX, not a null one, whose host has an address, so bounces and
mailto unsubscribes sent to ``[bounces]`` addresses arrive."""

from __future__ import annotations

from newsletter.config import BounceSettings
from newsletter.doctor.lookup import Dns, unanswered
from newsletter.doctor.report import Finding, error, ok
from newsletter.errors import DnsUnanswered


def check_bounce_mx(bounces: BounceSettings, lookup: Dns) -> list[Finding]:
    findings: list[Finding] = []
    domains = [a.rpartition("@")[2] for a in (bounces.address, bounces.unsubscribe_address) if a]
    for domain in dict.fromkeys(domains):
        check = f"mx {domain}"
        try:
            exchanges = lookup.mx(domain)
            if not exchanges:
                findings.append(error(check, f"{domain} has no MX record: bounces and mailto unsubscribes sent to "
                                      "it are lost", f"publish {domain} MX 10 YOUR-MAIL-SERVER (the host that "
                                      "delivers to [bounces] maildir or imap_host)"))
                continue
            if exchanges == [(0, "")] or exchanges[0][1] in ("", "."):
                findings.append(error(check, f"{domain} has a null MX (RFC 7505): it accepts no mail",
                                      f"replace it by {domain} MX 10 YOUR-MAIL-SERVER"))
                continue
            host = exchanges[0][1]
            if not lookup.addresses(host):
                findings.append(error(check, f"the MX host {host} of {domain} has no address (A/AAAA)",
                                      f"publish an A or AAAA record for {host}, or point the MX at a host that "
                                      "has one"))
                continue
            findings.append(ok(check, f"{domain} receives mail at {host}"))
        except DnsUnanswered as err:
            findings.append(unanswered(check, err))
    return findings
