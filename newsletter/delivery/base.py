"""The one small interface every transport implements, and the registry that names them.

An adapter is dumb on purpose: it opens a connection, hands over a batch of ready messages
and says what happened to each one. Rate limits, retries, the ledger and List-Unsubscribe
belong to the send engine (:mod:`newsletter.delivery.engine`), never to an adapter.

Each adapter module registers one class under its ``name``; ``[delivery] adapter`` in
``newsletter.toml`` picks one. The registry finds a name it does not hold yet, importing its module
only then: the built-in transports (:data:`BUILT_IN`), the mail providers' adapters (each provider's
declaration, :mod:`newsletter.providers`, also the providers other packages declare through the
``newsletter.providers`` entry-point group), then the adapters other packages add alone through the
``newsletter.adapters`` entry-point group (``name = "package.module:Class"``). This module imports none
of them: each imports it to register, and importing them here made an import circle. Registering a
name twice is an error.
"""

from __future__ import annotations

import abc
import difflib
import importlib
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Callable, ClassVar, Iterator, Mapping, Sequence

from newsletter import providers
from newsletter.core.addresses import is_loopback  # noqa: F401 (the adapters import it from here)
from newsletter.config import CONFIG_FILE, Settings
from newsletter.core.options import Options
from newsletter.errors import ConfigError, RequestRefused

if TYPE_CHECKING:  # the messages' builder loads with the engine's factory, not with the registry
    from newsletter.render.mime import BuiltMessage, Layout, Personal

__all__ = ["Adapter", "Doubt", "Failed", "Handover", "InDoubt", "NeverArrived", "Outgoing", "RequestRefused",
           "Result", "RetryLater", "SHARED_OPTIONS", "Sent", "Settled", "adapter_class", "bool_option",
           "choice_option", "int_option", "known_adapters", "make_adapter", "number_option", "path_option", "register",
           "send_once", "text_option"]

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "newsletter.adapters"
#: The transports of this package that are not a mail provider's: name → module, imported when first asked for.
BUILT_IN = {"outbox": "newsletter.delivery.outbox", "smtp": "newsletter.delivery.smtp"}


@dataclass(frozen=True)
class Outgoing:
    """One message to hand over; ``key`` identifies it to the caller (the ledger row).

    ``message`` is the complete MIME message, built only for adapters that ask for it
    (:attr:`Adapter.wants_mime`); ``personal`` always holds the recipient's own fields.
    """

    key: int
    personal: Personal
    envelope_from: str
    message: BuiltMessage | None = None

    @property
    def mime(self) -> BuiltMessage:
        if self.message is None:
            raise TypeError("this adapter needs complete messages: set wants_mime = True on it")
        return self.message


@dataclass(frozen=True)
class Sent:
    """The transport took the message; ``provider_id`` is its id for it, when it gives one."""

    key: int
    provider_id: str = ""
    ok: ClassVar[bool] = True
    error: ClassVar[str] = ""


@dataclass(frozen=True)
class RetryLater:
    """Not taken this time, worth trying again (4xx, throttling, a connection that failed before the
    message was written): after ``after`` seconds when the provider said so, else the engine's backoff."""

    key: int
    error: str
    after: float | None = None
    ok: ClassVar[bool] = False


@dataclass(frozen=True)
class Failed:
    """Refused for good (5xx, an address the transport cannot carry); ``bounced`` when the address
    does not exist (5.1.x), which stops mailing it."""

    key: int
    error: str
    bounced: bool = False
    ok: ClassVar[bool] = False


@dataclass(frozen=True)
class InDoubt:
    """The transport may have taken the message (the connection died after the point of no return,
    or an answer cannot be read): it must not be sent again."""

    key: int
    error: str
    ok: ClassVar[bool] = False


#: What became of one message: exactly one of four outcomes. Whether a message reached the point of
#: no return is the engine's knowledge (it was called through ``handover``), never the adapter's word.
Result = Sent | RetryLater | Failed | InDoubt


@dataclass(frozen=True)
class Doubt:
    """A message that may have reached the transport, to look up there (:meth:`Adapter.settle`).

    ``message_id`` is its Message-ID (our own id, :func:`~newsletter.render.mime.own_id`, is sent with it
    to every mail API); ``since`` the earliest moment it can have reached the transport (when it was
    handed over, or marked sending) and ``latest`` the last (when its call ended, or when it was marked
    sending by a run that then died): absence from the transport's records proves something only some
    time after it; ``subject`` the issue's subject, for providers whose search shows no custom variable.
    """

    key: int
    email: str
    message_id: str
    since: datetime
    latest: datetime
    subject: str = ""


@dataclass(frozen=True)
class NeverArrived:
    """A lookup proves that the transport never took the message: it may be sent again."""

    key: int
    reason: str


#: What a lookup proves about a message in doubt (:meth:`Adapter.settle`); what it cannot prove is left out.
Settled = Sent | NeverArrived


#: Called with the messages about to pass the point of no return (one for SMTP, a batch for APIs).
Handover = Callable[[Sequence[Outgoing]], None]


class Turns:
    """The connections of one run take turns at the interpreter, each giving its turn up only where it waits
    on the network (:meth:`waiting`): for a reply, to connect, for its signatures.

    Python runs one thread at a time, and a thread lets the interpreter go at every system call: a
    socket write, a database commit. With several connections ready to run, each of those moments
    hands the interpreter to another thread, a dozen times a message, each handover paid in context
    switches (on loopback three SMTP connections took about 40 % more CPU per message than one,
    and were slower). Taking turns hands over only where waiting lets another connection use the time.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder = threading.local()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Run the block in this thread's turn."""
        with self._lock:
            self._holder.held = True
            try:
                yield
            finally:
                self._holder.held = False

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Give the turn up while the block waits (nothing to give when this thread does not hold it)."""
        if not getattr(self._holder, "held", False):
            yield
            return
        self._holder.held = False
        self._lock.release()
        try:
            yield
        finally:
            self._lock.acquire()
            self._holder.held = True


class Adapter(abc.ABC):
    """A transport. Instances are used by one thread at a time; the engine makes one per connection."""

    name: ClassVar[str]
    #: How many rows the engine claims from the ledger at once for this transport.
    batch_size: ClassVar[int] = 50
    #: How many of them one connection takes for one :meth:`send` call (0: all of them). A transport that
    #: answers message by message takes a few: a server slow to answer holds up only those, while the
    #: run's other connections take the next ones.
    take: int = 0
    #: Whether :attr:`Outgoing.message` must hold the complete MIME message.
    wants_mime: ClassVar[bool] = True
    #: The keys ``[delivery.NAME]`` may hold; others are refused with a suggestion. Those of
    #: :data:`SHARED_OPTIONS` it declares are read here, once, for every adapter the same way.
    known_options: ClassVar[tuple[str, ...]] = ()
    #: How many connections the engine opens when ``connections`` is not set.
    default_connections: ClassVar[int] = 1
    #: Whether the engine paces this transport with ``rate_per_second``. The limit protects a remote
    #: server's quotas; a local transport (the outbox folder) has none and is not slowed down.
    paced: ClassVar[bool] = True
    #: Whether the run's connections take :class:`Turns`: only a transport that gives its turn up wherever it
    #: waits (:attr:`turns`) may say so; another would hold the others up for as long as it waits.
    takes_turns: ClassVar[bool] = False

    @classmethod
    def prepare(cls, settings: Settings) -> None:
        """Called when a send is about to get ready (before its rows are claimed and its connections opened),
        perhaps more than once for one send: start what takes a while and runs beside it, e.g. a helper
        process, once. Nothing by default."""

    def __init__(self, settings: Settings, environ: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.options: Mapping[str, object] = settings.delivery.adapters.get(self.name, {})
        self.layout: Layout | None = None
        #: Set by the engine when a stop is requested. The engine itself stops between the
        #: results :meth:`send` yields; an adapter whose message has steps may check it where the
        #: message can still be dropped cleanly (SMTP: before DATA) and raise :class:`Stopped`.
        #: A message whose ``handover`` has been called is always finished.
        self.stop = threading.Event()
        #: The run's turns (set by the engine when :attr:`takes_turns`); on its own, an adapter never holds one.
        self.turns = Turns()
        Options(settings.root / CONFIG_FILE, f"delivery.{self.name}", self.options, self.known_options)  # unknown keys
        #: Seconds to wait on the transport for any one step.
        self.timeout = number_option(self, "timeout", 30.0, positive=True)
        self._connections = int_option(self, "connections", self.default_connections, minimum=1)
        #: A private certificate authority to trust besides the system's, for TLS transports.
        self.ca_file = path_option(self, "ca_file", must_exist=True)

    def use_layout(self, layout: Layout) -> None:
        """Receive what every message of the send shares (called before :meth:`open`)."""
        self.layout = layout

    @property
    def connections(self) -> int:
        """How many of these the engine may run side by side (``connections``)."""
        return self._connections

    def open(self) -> None:
        """Connect (called once before the first batch).

        :raises ConfigError: for settings the transport refuses (bad credentials, unknown host).
        :raises NotSent: when the transport cannot be reached right now (nothing was written).
        """

    @abc.abstractmethod
    def send(self, batch: Sequence[Outgoing], handover: Handover) -> Iterator[list[Result]]:
        """Hand each message over; call ``handover(messages)`` right before the point of no return.

        :return: one :class:`Result` per message, in any order, yielded in lists as soon as they
            are known (one per message for SMTP, one per HTTP call for an API). The engine
            groups its writes: the outcomes known so far go with the next messages it marks
            sending (at their ``handover``), so a crash leaves only a message on the wire in doubt.
        :raises ConfigError: when the transport refuses the configuration; the run stops.
        :raises RequestRefused: when the provider refuses a whole request; the run stops.
        """

    @property
    def looks_up(self) -> bool:
        """Whether :meth:`settle` can prove anything (the transport keeps a record the adapter can read)."""
        return type(self).settle is not Adapter.settle

    def settle(self, rows: Sequence[Doubt], now: datetime) -> dict[int, Settled]:
        """Look up messages left in doubt (an answer lost, a run killed during its call) where the
        transport keeps a record of what it took.

        Called by the engine before it leaves rows ``uncertain``: at the end of a call that came back in
        doubt, for the rows in flight of a run that died, and for the send's ``uncertain`` rows when a
        run starts. It must be bounded (a few requests, short timeouts) and never raise for a lookup
        that fails: what it cannot tell, it leaves out.

        :param now: the engine's clock, to which ``since`` belongs.
        :return: key → :class:`Sent` (found, with the transport's id) or :class:`NeverArrived` (proved
            absent); rows it cannot tell are left out, and stay ``uncertain``.
        """
        return {}

    def close(self) -> None:
        """Release the connection (called once, also after errors), without waiting long on a server
        that does not answer."""

    def abort(self) -> None:
        """Break the connection now; called from another thread when, after a stop request, the
        server has not answered the message in hand within the grace period. The blocked call
        must end at once: the message is then in doubt if it had passed the point of no return."""


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
    if name not in REGISTRY:
        _load(name)
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"newsletter.toml: [delivery] adapter {name!r} is unknown; known: {', '.join(known_adapters())}",
            hint="an adapter from another package must be installed in the same environment",
        ) from None


def prepare_transport(settings: Settings) -> None:
    """Let the configured transport start what runs beside the send's start-up (:meth:`Adapter.prepare`). A
    configuration it refuses (an unknown adapter, a DKIM key gone) is said where the send makes its
    connections, as without this step.

    Only a DKIM signer has something to start today: without ``[dkim]`` the transport is not even imported
    (a send that finds nothing left to do never loads it).
    """
    if settings.dkim is None:
        return
    try:
        adapter_class(settings.delivery.adapter).prepare(settings)
    except ConfigError:
        pass


def known_adapters() -> list[str]:
    """The adapter names that can be asked for (nothing is imported to list them)."""
    plugged = (point.name for point in entry_points(group=ENTRY_POINT_GROUP))
    return sorted({*REGISTRY, *BUILT_IN, *providers.names(), *plugged})


def make_adapter(settings: Settings, environ: Mapping[str, str] | None = None) -> Adapter:
    """The configured adapter (``[delivery] adapter``), ready to :meth:`~Adapter.open`."""
    return adapter_class(settings.delivery.adapter)(settings, environ)


def _load(name: str) -> None:
    """Import the adapter called ``name``, wherever it is declared; nothing when it is nowhere."""
    if name in BUILT_IN:
        importlib.import_module(BUILT_IN[name])  # the module registers its class
        return
    provider = providers.find(name)
    if provider is not None and provider.adapter:
        _register_plugged(name, provider.load(provider.adapter), provider.adapter)
        return
    for point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            cls = point.load()
        except Exception as err:  # a broken plug-in must not crash the CLI with a traceback
            raise ConfigError(f"the delivery adapter {name!r} ({point.value}) cannot be loaded: {err!r}") from err
        _register_plugged(name, cls, point.value)


def _register_plugged(name: str, cls: object, where: str) -> None:
    """Register the class declared as ``name`` at ``where``, once it is proved an adapter of that name."""
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise ConfigError(f"the adapter {name!r} = {where!r} is not a newsletter Adapter class")
    if getattr(cls, "name", None) != name:
        raise ConfigError(f"the adapter {name!r} = {where!r} names a class whose name is "
                          f"{getattr(cls, 'name', None)!r}; they must match")
    register(cls)
    log.debug("delivery adapter %r loaded from %s", name, where)


def send_once(adapter: Adapter, layout: Layout, batch: Sequence[Outgoing]) -> list[Result]:
    """Send a few messages outside any ledger (test sends, alerts, confirmations), then close."""
    adapter.use_layout(layout)
    adapter.open()
    try:
        return [result for results in adapter.send(batch, lambda items: None) for result in results]
    finally:
        adapter.close()


# -- reading [delivery.NAME] -------------------------------------------------------------------

#: Keys any adapter may declare whose meaning is the same everywhere; :class:`Adapter` reads them once.
SHARED_OPTIONS = ("timeout", "connections", "ca_file")


def options(adapter: Adapter) -> Options:
    """``[delivery.NAME]`` read through the vocabulary ``config`` uses for its own tables
    (:mod:`newsletter.core.options`); the adapter's unknown keys were refused when it was made."""
    return Options(adapter.settings.root / CONFIG_FILE, f"delivery.{adapter.name}", adapter.options,
                   tuple(adapter.options))


def text_option(adapter: Adapter, key: str, default: str = "", *, required: bool = False) -> str:
    """``[delivery.NAME] key`` as text (as written: not stripped).

    :raises ConfigError: naming the key, when it is missing but ``required``, or not text.
    """
    return options(adapter).text(key, default, required=required, single_line=False, strip=False)


def int_option(adapter: Adapter, key: str, default: int, *, minimum: int | None = None) -> int:
    """``[delivery.NAME] key`` as a whole number, at least ``minimum`` when given.

    :raises ConfigError: naming the key, for any other type or a number below ``minimum``.
    """
    return options(adapter).integer(key, default, minimum=minimum)


def number_option(adapter: Adapter, key: str, default: float, *, positive: bool = False) -> float:
    """``[delivery.NAME] key`` as a number (whole or decimal), above zero when ``positive``.

    :raises ConfigError: naming the key, for any other type or a number not above zero.
    """
    return options(adapter).number(key, default, positive=positive)


def bool_option(adapter: Adapter, key: str, default: bool) -> bool:
    """``[delivery.NAME] key`` as true or false.

    :raises ConfigError: naming the key, for any other value (``"yes"``, 1…).
    """
    return options(adapter).boolean(key, default)


def choice_option(adapter: Adapter, key: str, choices: Sequence[str], default: str) -> str:
    """``[delivery.NAME] key`` as one of ``choices``.

    :raises ConfigError: naming the key and the choices.
    """
    return options(adapter).choice(key, choices, default)


def path_option(adapter: Adapter, key: str, default: str = "", *, must_exist: bool = False) -> Path | None:
    """``[delivery.NAME] key`` as a path, relative ones resolved against the project folder
    (None when neither set nor defaulted).

    :raises ConfigError: naming the key, when it is not text, or names no file although ``must_exist``.
    """
    text = text_option(adapter, key, default)
    if not text:
        return None
    path = Path(text).expanduser()
    path = path if path.is_absolute() else adapter.settings.root / path
    if must_exist and not path.is_file():
        raise options(adapter).error(f"[delivery.{adapter.name}] {key} names {path}, which is not a readable file",
                                     hint=f"fix the path, or remove {key}")
    return path
