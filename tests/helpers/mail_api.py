"""A project sending through a mail API fake (tests/fakes.py) in a test."""

from __future__ import annotations

from pathlib import Path

from newsletter.config import Settings, load_settings
from newsletter.delivery.engine import Policy, SendReport, make_adapter, send_issue
from newsletter.store.database import Store
from tests.conftest import DAY, SECRET
from tests.fakes import FakeProvider, api_config, environment
from tests.helpers.sending import FAST
from tests.helpers.config import merge_options


def configure(project: Path, fake: FakeProvider, **extra: object) -> Settings:
    merge_options(project, "[delivery]\n" + api_config(fake.name, fake.base_url, **extra))
    return load_settings(project)


def send(settings: Settings, store: Store, fake: FakeProvider, environ: dict[str, str] | None = None,
         policy: Policy = FAST) -> SendReport:
    env = environment(fake.name) if environ is None else environ
    return send_issue(settings, store, DAY, secret_key=SECRET, policy=policy,
                      adapter_factory=lambda: make_adapter(settings, env))
