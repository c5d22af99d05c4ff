"""The example recipient every proof shows (``newsletter build``, the preview, the golden files).

Lower than both :mod:`newsletter.services.build` and :mod:`newsletter.frontends.web.preview`, which personalize the
issue for the same person without importing each other.
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.render.mime import Recipient, recipient_values

SAMPLE_RECIPIENT = Recipient("camille.martin@example.org", "Camille", "Martin")
#: Signs the sample's unsubscribe link when NEWSLETTER_SECRET_KEY is unset. The sample
#: is never sent, so its link only has to look real.
SAMPLE_SECRET = "sample-only-not-a-secret"


def sample_values(settings: Settings, secret_key: str = SAMPLE_SECRET) -> dict[str, str]:
    """The merge values of the example recipient."""
    return recipient_values(settings, SAMPLE_RECIPIENT, secret_key)
