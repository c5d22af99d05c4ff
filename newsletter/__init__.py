"""newsletter: compose, check and send a daily email of five short news items."""

from newsletter.errors import (
    ConfigError,
    ContentError,
    IssueNotFoundError,
    NewsletterError,
    RenderError,
    ScaffoldError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ContentError",
    "IssueNotFoundError",
    "NewsletterError",
    "RenderError",
    "ScaffoldError",
    "__version__",
]
