"""Postmark: the batch email API (:mod:`.send`) and its webhooks behind HTTP basic auth (:mod:`.events`)."""

from newsletter.providers import Provider

provider = Provider(
    name="postmark",
    adapter="newsletter.providers.postmark.send:PostmarkAdapter",
    webhook="newsletter.providers.postmark.events:PostmarkWebhook",
    spf_includes=("mtasv.net",),
    spf_term="include:spf.mtasv.net",
)
