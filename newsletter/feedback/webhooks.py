"""The one small interface every provider's webhook implements, and the registry that names them.

A webhook is a provider's events reaching ``POST /webhooks/NAME``. Its class fills the hooks and
nothing else: :meth:`Webhook.authenticate` proves the request the provider's (before anything is read
from it), :meth:`Webhook.parse_events` turns the payload into :class:`~newsletter.feedback.Parsed`
feedback, :meth:`Webhook.replay_token` names what must not come twice, and
:meth:`Webhook.answer_refused` says the status the provider reads as "do not retry". Recording the
feedback, refusing replays, the body limit and the logs belong to the library
(:class:`newsletter.library.web.Webhooks`), the same for every provider.

``[webhooks.NAME]`` in ``newsletter.toml`` turns one on, its keys read by its class (unknown keys are
refused with a suggestion, as ``[delivery.NAME]``'s are). The registry finds a class by its name the
way the adapters' does: each provider declares where its webhook is (:mod:`newsletter.providers`), and
it is imported only when asked for. Registering a name twice is an error.
"""

from __future__ import annotations

import abc
import difflib
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Mapping

from newsletter import providers
from newsletter.config import secret_from_env
from newsletter.errors import ConfigError
from newsletter.feedback import Parsed, WebhookRefused

__all__ = ["REGISTRY", "Webhook", "WebhookRequest", "known_webhooks", "register", "webhook_class"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WebhookRequest:
    """One request as it arrived: its headers (lookups that ignore case, as HTTP's do), its raw body,
    and when it came (the library's clock, for signed timestamps)."""

    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


class Webhook(abc.ABC):
    """One provider's webhook, its secrets loaded. Built once when the web service starts."""

    name: ClassVar[str]
    #: The keys ``[webhooks.NAME]`` may hold; others are refused with a suggestion.
    known_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: Mapping[str, object], environ: Mapping[str, str], *, max_age: int) -> None:
        """Read ``[webhooks.NAME]`` and load the secrets it names.

        :param max_age: ``[webhooks] max_age_seconds``: how old a signed timestamp may be.
        :raises ConfigError: for an unknown key, or a secret missing from the environment or unusable.
        """
        self.options = options
        self.environ = environ
        self.max_age = max_age
        for key in options:
            if key not in self.known_options:
                near = difflib.get_close_matches(key, self.known_options, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                known = f"known keys: {', '.join(self.known_options)}" if self.known_options else "it takes no keys"
                raise ConfigError(f"newsletter.toml: [webhooks.{self.name}] has an unknown key {key!r}; {hint}{known}",
                                  hint=f"edit [webhooks.{self.name}] in newsletter.toml")

    def secret(self, key: str, purpose: str) -> tuple[str, str]:
        """``(variable, value)`` of the secret whose variable ``[webhooks.NAME] key`` names.

        :raises ConfigError: when the key is missing, or the variable is unset or empty (never its value).
        """
        variable = self.options.get(key, "")
        if not isinstance(variable, str) or not variable:
            raise ConfigError(f"newsletter.toml: [webhooks.{self.name}] {key} is required: the name of the "
                              f"environment variable that holds the {purpose}",
                              hint=f'add {key} = "{self.name.upper()}_WEBHOOK_SECRET" under [webhooks.{self.name}] '
                                   "and export that variable")
        return variable, secret_from_env(variable, purpose=purpose, environ=self.environ)

    @abc.abstractmethod
    def authenticate(self, request: WebhookRequest) -> Any:
        """Prove that ``request`` is the provider's (and fresh, where the provider signs a time).

        :return: the payload, read from the body once the request is proved (or while proving it,
            when the signature is inside the body).
        :raises WebhookRefused: for a request that is not (provably) the provider's, stale or malformed;
            nothing of it is recorded.
        """

    @abc.abstractmethod
    def parse_events(self, payload: Any) -> Parsed:
        """The feedback in an authenticated payload, and the event types left aside.

        :raises WebhookRefused: (400) for an event the provider documents but that lacks what it must hold.
        """

    def replay_token(self, payload: Any) -> str:
        """What the provider signs once per request, remembered to refuse the same request twice; "" when
        its scheme has none (the events' own ids then make a repeated event a duplicate, recorded once)."""
        return ""

    def answer_refused(self, refused: WebhookRefused) -> int:
        """The status answered to a refused request: the one the provider reads as "do not retry" when it
        has one (a forged or malformed request fails the same way every time)."""
        return refused.status


REGISTRY: dict[str, type[Webhook]] = {}


def register(cls: type[Webhook]) -> type[Webhook]:
    """Class decorator: make a webhook available under its ``name``.

    :raises ValueError: when the name is taken.
    """
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"a webhook named {cls.name!r} is already registered ({REGISTRY[cls.name]!r})")
    REGISTRY[cls.name] = cls
    return cls


def known_webhooks() -> list[str]:
    """The provider names a ``[webhooks.NAME]`` table can name (nothing is imported to list them)."""
    return sorted({*REGISTRY, *providers.names()})


def webhook_class(name: str) -> type[Webhook]:
    """The webhook of the provider ``name``.

    :raises ConfigError: naming the known providers, or what is wrong with a plug-in's declaration.
    """
    if name not in REGISTRY:
        provider = providers.find(name)
        if provider is not None and provider.webhook:
            cls = provider.load(provider.webhook)
            if not (isinstance(cls, type) and issubclass(cls, Webhook)):
                raise ConfigError(f"the {name} provider's webhook {provider.webhook!r} is not a newsletter "
                                  "Webhook class")
            if getattr(cls, "name", None) != name:
                raise ConfigError(f"the {name} provider's webhook {provider.webhook!r} names a class whose name is "
                                  f"{getattr(cls, 'name', None)!r}; they must match")
            register(cls)
            log.debug("webhook %r loaded from %s", name, provider.webhook)
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"newsletter.toml: [webhooks.{name}] names no provider with a webhook; known: "
                          f"{', '.join(known_webhooks())}",
                          hint="a provider from another package must be installed in the same environment") from None
