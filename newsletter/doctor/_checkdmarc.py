"""checkdmarc, loaded quietly: the one place the doctor imports it from.

Importing it loads dnspython's DNSSEC module, which still names cryptography's deprecated DSA
classes; the warning that follows (a ``UserWarning``, so printed) is for dnspython's maintainers,
not for the person running ``newsletter doctor``.
"""

from __future__ import annotations

import warnings

from cryptography.utils import CryptographyDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", category=CryptographyDeprecationWarning)
    from checkdmarc.dmarc import DMARCError, parse_dmarc_record
    from checkdmarc.spf import (SPFError, SPFIncludeLoop, SPFRecordNotFound, SPFRedirectLoop, SPFSyntaxError,
                                SPFTooManyVoidDNSLookups, parse_spf_record)
    from checkdmarc.utils import DNS_CACHE

__all__ = ["DMARCError", "DNS_CACHE", "SPFError", "SPFIncludeLoop", "SPFRecordNotFound", "SPFRedirectLoop",
           "SPFSyntaxError", "SPFTooManyVoidDNSLookups", "parse_dmarc_record", "parse_spf_record"]
