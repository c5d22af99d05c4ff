"""Mail providers, one package each: the sending adapter, the webhook, the settings and the quirks together.

A provider package (``newsletter/providers/brevo/``) holds ``send.py``, its delivery adapter
(``[delivery] adapter = "brevo"``, options in ``[delivery.brevo]``), and ``events.py``, its webhook
(``POST /webhooks/brevo``, options in ``[webhooks.brevo]``); its ``__init__.py`` declares it as a
:class:`Provider` named ``provider``: where those two classes are, and what else about the provider
the rest of the code must know (the SPF include ``doctor`` looks for, the status that makes its
webhook retry…), so that nothing outside the package says ``if adapter == "brevo"``.

The declaration names its parts by ``"module:Class"`` and imports nothing: the adapter registry
(:func:`newsletter.delivery.base.adapter_class`) and the webhook registry
(:func:`newsletter.feedback.webhooks.webhook_class`) import a part when it is first asked for, so a
send never loads the webhook code, the web service never loads a provider it does not serve, and
no registry imports the modules that register into it (which made one import circle of 19 files).

Other packages add providers through the ``newsletter.providers`` entry-point group: an entry
``name = "package.module:provider"`` whose object is a :class:`Provider` of that ``name``.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from dataclasses import dataclass
from importlib.metadata import entry_points

from newsletter.errors import ConfigError

__all__ = ["BUILT_IN", "ENTRY_POINT_GROUP", "Provider", "find", "names"]

log = logging.getLogger(__name__)

#: The entry-point group through which other packages declare providers.
ENTRY_POINT_GROUP = "newsletter.providers"
#: The providers of this package: each subpackage here, whose ``provider`` attribute declares it (adding
#: a provider is adding its folder; nothing else names it).
BUILT_IN = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg))


@dataclass(frozen=True)
class Provider:
    """What the rest of the code knows about one mail provider; its behaviour lives in its two classes.

    :param name: the name in ``newsletter.toml`` (``[delivery] adapter``, ``[delivery.NAME]``,
        ``[webhooks.NAME]``) and in the webhook's URL, ``/webhooks/NAME``.
    :param adapter: ``"module:Class"`` of its :class:`~newsletter.delivery.base.Adapter`; empty when
        it only receives events.
    :param webhook: ``"module:Class"`` of its :class:`~newsletter.feedback.webhooks.Webhook`; empty
        when it sends none.
    """

    name: str
    adapter: str = ""
    webhook: str = ""
    #: Domains whose ``include:`` in an SPF record lets the provider send for the domain (``doctor``).
    spf_includes: tuple[str, ...] = ()
    #: The SPF term ``doctor`` advises adding, as the provider's documentation writes it (default:
    #: ``include:`` and the first of :attr:`spf_includes`).
    spf_term: str = ""
    #: The ``[delivery.NAME]`` key holding the domain the provider sends from as envelope sender, where
    #: SPF is checked (Mailgun: ``domain``); empty when the envelope sender is the provider's own unless
    #: a custom return path is set up in its dashboard (then SPF is not checked).
    envelope_domain_key: str = ""
    #: The status the webhook answers when its events cannot be recorded now, chosen so that the
    #: provider sends them again later (503, unless the provider drops what a 5xx answers).
    busy_status: int = 503

    @property
    def advised_spf_term(self) -> str:
        return self.spf_term or (f"include:{self.spf_includes[0]}" if self.spf_includes else "")

    def load(self, part: str) -> object:
        """The object named by ``"module:attr"`` (:attr:`adapter` or :attr:`webhook`), imported now.

        :raises ConfigError: when it cannot be imported (a broken plug-in must not end in a traceback).
        """
        module, _, attribute = part.partition(":")
        try:
            return getattr(importlib.import_module(module), attribute)
        except Exception as err:  # a broken plug-in (or a missing part) must not crash with a traceback
            raise ConfigError(f"the {self.name} provider's {part!r} cannot be loaded: {err!r}",
                              hint="reinstall the package that provides it") from err


def names() -> tuple[str, ...]:
    """The providers known here, built in or declared by installed packages (nothing is imported)."""
    declared = (point.name for point in entry_points(group=ENTRY_POINT_GROUP))
    return tuple(sorted({*BUILT_IN, *declared}))


def find(name: str) -> Provider | None:
    """The provider declared as ``name``, or None.

    :raises ConfigError: when an installed package declares it but its declaration is broken.
    """
    if name in BUILT_IN:
        declared = getattr(importlib.import_module(f"{__name__}.{name}"), "provider")
        assert isinstance(declared, Provider) and declared.name == name
        return declared
    for point in entry_points(group=ENTRY_POINT_GROUP, name=name):
        try:
            declared = point.load()
        except Exception as err:  # a broken plug-in must not crash the CLI with a traceback
            raise ConfigError(f"the provider {name!r} ({point.value}) cannot be loaded: {err!r}",
                              hint="reinstall the package that declares it, or remove its settings") from err
        if not isinstance(declared, Provider):
            raise ConfigError(f"the entry point {name!r} = {point.value!r} of the group {ENTRY_POINT_GROUP} is not "
                              "a newsletter.providers.Provider")
        if declared.name != name:
            raise ConfigError(f"the entry point {name!r} = {point.value!r} declares a provider named "
                              f"{declared.name!r}; they must match")
        log.debug("provider %r declared by %s", name, point.value)
        return declared
    return None
