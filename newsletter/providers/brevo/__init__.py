"""Brevo (formerly Sendinblue): the transactional email API (:mod:`.send`) and its webhooks (:mod:`.events`)."""

from newsletter.providers import Provider

provider = Provider(
    name="brevo",
    adapter="newsletter.providers.brevo.send:BrevoAdapter",
    webhook="newsletter.providers.brevo.events:BrevoWebhook",
    spf_includes=("brevo.com", "sendinblue.com"),
    spf_term="include:spf.brevo.com",
    # Brevo drops an event answered with any 5xx, but retries a 429.
    busy_status=429,
)
