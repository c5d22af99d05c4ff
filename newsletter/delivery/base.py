"""The one small interface every transport implements, and the registry that names them.

An adapter is dumb on purpose: it opens a connection, hands over a batch of ready messages
and says what happened to each one. Rate limits, retries, the ledger and List-Unsubscribe
belong to the send engine (:mod:`newsletter.dispatch`), never to an adapter.

Each adapter module registers one class under its ``name``; ``[delivery] adapter`` in
``newsletter.toml`` picks one. Registering a name twice is an error.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterator, Mapping, Sequence

from newsletter.config import Settings
from newsletter.errors import ConfigError
from newsletter.render.mime import BuiltMessage


@dataclass(frozen=True)
class Outgoing:
    """One message to hand over; ``key`` identifies it to the caller (the ledger row)."""

    key: int
    message: BuiltMessage
    envelope_from: str


@dataclass(frozen=True)
class Result:
    """What became of one message.

    ``transient`` failures are worth retrying; ``uncertain`` means the transport may have
    taken the message (the connection died after the point of no return) and it must not be
    resent; ``hard_bounce`` means the address does not exist (5.1.x).
    """

    key: int
    ok: bool
    error: str = ""
    transient: bool = False
    uncertain: bool = False
    hard_bounce: bool = False
    provider_id: str = ""
    handed_over: bool = True


Handover = Callable[[Outgoing], None]


class Adapter(abc.ABC):
    """A transport. Instances are used by one thread at a time; the engine makes one per connection."""

    name: ClassVar[str]
    #: How many messages the engine gives :meth:`send` at once.
    batch_size: ClassVar[int] = 50

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.options: Mapping[str, object] = settings.delivery.adapters.get(self.name, {})

    @property
    def connections(self) -> int:
        """How many of these the engine may run side by side."""
        return 1

    def open(self) -> None:
        """Connect (called once before the first batch).

        :raises ConfigError: for settings the transport refuses (bad credentials, unknown host).
        :raises TransientDeliveryError: when the transport cannot be reached right now.
        """

    @abc.abstractmethod
    def send(self, batch: Sequence[Outgoing], handover: Handover) -> Iterator[Result]:
        """Hand each message over; call ``handover(message)`` right before the point of no return.

        :return: one :class:`Result` per message, in any order, each yielded as soon as it is
            known so that the engine records it at once (the shorter the time between the
            transport's acceptance and the record, the fewer messages a crash leaves in doubt).
        :raises ConfigError: when the transport refuses the configuration; the run stops.
        """

    def reconcile(self, pending: Sequence[tuple[int, str]]) -> dict[int, bool | None]:
        """For messages a dead run left in doubt ((key, Message-ID) pairs): were they delivered?

        :return: key → True (delivered), False (not delivered) or None (cannot tell).
        """
        return {key: None for key, _ in pending}

    def close(self) -> None:
        """Release the connection (called once, also after errors)."""


REGISTRY: dict[str, type[Adapter]] = {}


def register(cls: type[Adapter]) -> type[Adapter]:
    """Class decorator: make an adapter available under its ``name``.

    :raises ValueError: when the name is taken.
    """
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise ValueError(f"a delivery adapter named {cls.name!r} is already registered ({REGISTRY[cls.name]!r})")
    REGISTRY[cls.name] = cls
    return cls


def adapter_class(name: str) -> type[Adapter]:
    """The adapter registered as ``name``.

    :raises ConfigError: naming the known adapters.
    """
    import newsletter.delivery.outbox  # noqa: F401  (registers itself)
    import newsletter.delivery.smtp  # noqa: F401

    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"newsletter.toml: [delivery] adapter {name!r} is unknown; known: {', '.join(sorted(REGISTRY))}"
        ) from None


def option(adapter: Adapter, key: str, kind: type, default: object = None, *, required: bool = False) -> object:
    """Read ``[delivery.NAME] key`` with its type checked; errors name the key."""
    table = f"[delivery.{adapter.name}]"
    if key not in adapter.options:
        if required:
            raise ConfigError(f"newsletter.toml: {table} {key} is required")
        return default
    value = adapter.options[key]
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"newsletter.toml: {table} {key} must be {kind.__name__} (got {value!r})")
    return value
