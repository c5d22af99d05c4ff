"""Mailgun: the Messages API (:mod:`.send`) and its signed webhooks (:mod:`.events`)."""

from newsletter.providers import Provider

provider = Provider(
    name="mailgun",
    adapter="newsletter.providers.mailgun.send:MailgunAdapter",
    webhook="newsletter.providers.mailgun.events:MailgunWebhook",
    spf_includes=("mailgun.org",),
    # Mailgun sends with the sending domain ([delivery.mailgun] domain) as envelope sender.
    envelope_domain_key="domain",
)
