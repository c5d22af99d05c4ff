"""SendGrid: the v3 Mail Send API (:mod:`.send`) and its Signed Event Webhook (:mod:`.events`)."""

from newsletter.providers import Provider

provider = Provider(
    name="sendgrid",
    adapter="newsletter.providers.sendgrid.send:SendGridAdapter",
    webhook="newsletter.providers.sendgrid.events:SendGridWebhook",
    spf_includes=("sendgrid.net",),
)
