"""newsletter: compose, check and send a daily email of five short news items."""

from newsletter.errors import (
    ConfigError,
    ContentError,
    DeliveryError,
    ImportFileError,
    IssueNotFoundError,
    NewsletterError,
    PermanentDeliveryError,
    RenderError,
    ScaffoldError,
    SendBusyError,
    StoreError,
    TransientDeliveryError,
)
from newsletter.library import Newsletter

from newsletter.core.version import VERSION as __version__

__all__ = [
    "ConfigError",
    "ContentError",
    "DeliveryError",
    "ImportFileError",
    "IssueNotFoundError",
    "Newsletter",
    "NewsletterError",
    "PermanentDeliveryError",
    "RenderError",
    "ScaffoldError",
    "SendBusyError",
    "StoreError",
    "TransientDeliveryError",
    "__version__",
]
