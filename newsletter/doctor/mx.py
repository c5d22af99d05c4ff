"""The bounce domain's check: it has an MX, not a null one, whose host has an address, so bounces and
mailto unsubscribes sent to ``[bounces]`` addresses arrive."""

from __future__ import annotations

from newsletter.config import BounceSettings
from newsletter.doctor.lookup import Dns, unanswered
from newsletter.doctor.report import Finding, error, ok
from newsletter.errors import N_, DnsUnanswered


def check_bounce_mx(bounces: BounceSettings, lookup: Dns) -> list[Finding]:
    findings: list[Finding] = []
    domains = [a.rpartition("@")[2] for a in (bounces.address, bounces.unsubscribe_address) if a]
    for domain in dict.fromkeys(domains):
        check = f"mx {domain}"
        try:
            exchanges = lookup.mx(domain)
            if not exchanges:
                findings.append(error(check, N_("%(domain)s has no MX record: bounces and mailto unsubscribes sent "
                                                "to it are lost"),
                                      N_("publish %(domain)s MX 10 YOUR-MAIL-SERVER (the host that delivers to "
                                         "[bounces] maildir or imap_host)"), domain=domain))
                continue
            if exchanges == [(0, "")] or exchanges[0][1] in ("", "."):
                findings.append(error(check, N_("%(domain)s has a null MX (RFC 7505): it accepts no mail"),
                                      N_("replace it by %(domain)s MX 10 YOUR-MAIL-SERVER"), domain=domain))
                continue
            host = exchanges[0][1]
            if not lookup.addresses(host):
                findings.append(error(check, N_("the MX host %(host)s of %(domain)s has no address (A/AAAA)"),
                                      N_("publish an A or AAAA record for %(host)s, or point the MX at a host that "
                                         "has one"), host=host, domain=domain))
                continue
            findings.append(ok(check, N_("%(domain)s receives mail at %(host)s"), domain=domain, host=host))
        except DnsUnanswered as err:
            findings.append(unanswered(check, err))
    return findings
