"""The providers' registry (:mod:`newsletter.providers`): the built-in declarations, and a provider of another
package, installed as a real distribution (a ``.dist-info`` folder on ``sys.path``, found through
:mod:`importlib.metadata`), bringing its adapter and its webhook through one entry point."""

from __future__ import annotations

import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest

from newsletter import Newsletter, providers
from newsletter.config import load_settings
from newsletter.delivery import base
from newsletter.delivery.engine import send_issue
from newsletter.errors import ConfigError
from newsletter.feedback import Parsed, webhooks
from newsletter.frontends.web.app import create_app
from newsletter.frontends.web.mailer import MailQueue
from newsletter.store.database import Store
from newsletter.store.models import DeliveryStatus
from newsletter.store.subscribers import add_subscriber, find_subscriber
from tests.conftest import DAY, SECRET

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=timezone.utc)
TOKEN = "acme-token-" + "9e" * 12

#: A provider package as someone else would publish it: its declaration, its adapter, its webhook.
ACME = {
    "acme_mail/__init__.py": '''
        from newsletter.providers import Provider

        provider = Provider(name="acme", adapter="acme_mail.send:AcmeAdapter", webhook="acme_mail.hooks:AcmeWebhook",
                            spf_includes=("spf.acme.example",), busy_status=429)
    ''',
    "acme_mail/send.py": '''
        from newsletter.delivery.base import Adapter, Sent, text_option

        class AcmeAdapter(Adapter):
            name = "acme"
            wants_mime = False
            known_options = ("account",)
            sent = []

            def __init__(self, settings, environ=None):
                super().__init__(settings, environ)
                self.account = text_option(self, "account", required=True)

            def send(self, batch, handover):
                handover(batch)
                AcmeAdapter.sent.extend(item.personal.email for item in batch)
                yield [Sent(item.key, provider_id=f"acme-{item.key}") for item in batch]
    ''',
    "acme_mail/hooks.py": '''
        import json

        from newsletter.feedback import Parsed, WebhookRefused, same
        from newsletter.feedback.webhooks import Webhook
        from newsletter.store.feedback import Feedback, FeedbackKind

        class AcmeWebhook(Webhook):
            name = "acme"
            known_options = ("token_env",)

            def __init__(self, options, environ, *, max_age):
                super().__init__(options, environ, max_age=max_age)
                self.token = self.secret("token_env", "Acme webhook token")[1].encode()

            def authenticate(self, request):
                if not same(request.headers.get("X-Acme-Token", "").encode(), self.token):
                    raise WebhookRefused(401, "wrong or missing token")
                return json.loads(request.body)

            def parse_events(self, payload):
                return Parsed([Feedback(kind=FeedbackKind.HARD_BOUNCE, source="acme", event_id=payload["id"],
                                        occurred_at=request_time(payload), email=payload["to"])])

        def request_time(payload):
            from datetime import datetime
            return datetime.fromisoformat(payload["at"])
    ''',
}


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The ``acme-mail`` distribution installed in a folder on ``sys.path``."""
    site = tmp_path / "site"
    info = site / "acme_mail-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-mail\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[newsletter.providers]\nacme = acme_mail:provider\n", encoding="utf-8")
    for name, text in ACME.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(textwrap.dedent(text), encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    yield site
    base.REGISTRY.pop("acme", None)
    webhooks.REGISTRY.pop("acme", None)
    for module in [m for m in sys.modules if m == "acme_mail" or m.startswith("acme_mail.")]:
        del sys.modules[module]


def use_acme(project: Path) -> None:
    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('adapter = "outbox"', 'adapter = "acme"')
                      + '\n[delivery.acme]\naccount = "redaction"\n'
                      + '\n[webhooks.acme]\ntoken_env = "ACME_TOKEN"\n', encoding="utf-8")


def test_each_built_in_provider_declares_its_parts_where_they_are() -> None:
    for name in providers.BUILT_IN:
        provider = providers.find(name)
        assert provider is not None and provider.name == name
        assert base.adapter_class(name).name == name
        assert webhooks.webhook_class(name).name == name
        assert provider.spf_includes and provider.advised_spf_term.startswith("include:")
    assert providers.find("brevo").busy_status == 429  # type: ignore[union-attr]
    assert providers.find("smtp") is None  # a transport, not a provider


def test_a_provider_of_another_package_sends_and_receives_its_events(project: Path, store: Store,
                                                                    acme: Path) -> None:
    use_acme(project)
    settings = load_settings(project)
    for address in ("lea@example.org", "tom@example.org"):
        add_subscriber(store, address, now=NOW)
    assert "acme" in providers.names() and "acme" in base.known_adapters() and "acme" in webhooks.known_webhooks()
    report = send_issue(settings, store, DAY, secret_key=SECRET)
    adapter = base.adapter_class("acme")
    assert report.count(DeliveryStatus.SENT) == 2
    assert sorted(adapter.sent) == ["lea@example.org", "tom@example.org"]  # type: ignore[attr-defined]

    nl = Newsletter(settings, store=store, secret_key=SECRET, environ={"ACME_TOKEN": TOKEN}, clock=lambda: NOW)
    event = b'{"id": "ev-1", "to": "lea@example.org", "at": "2026-11-24T08:59:00+00:00"}'
    with create_app(nl, mail_queue=MailQueue()).test_client() as client:
        forged = client.post("/webhooks/acme", data=event, headers={"X-Acme-Token": "not-the-token"})
        answer = client.post("/webhooks/acme", data=event, headers={"X-Acme-Token": TOKEN})
    assert forged.status_code == 401 and answer.status_code == 200, answer.get_json()
    assert [find_subscriber(store, a).status for a in ("lea@example.org", "tom@example.org")] == [  # type: ignore[union-attr]
        "bounced", "active"]


def test_a_provider_of_another_package_keeps_its_quirks(acme: Path) -> None:
    provider = providers.find("acme")
    assert provider is not None and provider.busy_status == 429
    assert provider.advised_spf_term == "include:spf.acme.example"


@pytest.mark.parametrize(("entry", "message"), [
    ("acme = acme_mail:nothing", "cannot be loaded"),
    ("acme = acme_mail.send:AcmeAdapter", "is not a newsletter.providers.Provider"),
    ("other = acme_mail:provider", "declares a provider named 'acme'; they must match"),
])
def test_a_broken_declaration_is_a_configuration_error(acme: Path, entry: str, message: str) -> None:
    (acme / "acme_mail-1.0.dist-info" / "entry_points.txt").write_text(f"[newsletter.providers]\n{entry}\n",
                                                                        encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        providers.find(entry.split(" ")[0])


def test_a_provider_whose_parts_are_missing_names_them(acme: Path, project: Path, store: Store) -> None:
    (acme / "acme_mail" / "hooks.py").unlink()
    use_acme(project)
    with pytest.raises(ConfigError, match="acme_mail.hooks:AcmeWebhook' cannot be loaded"):
        Newsletter(load_settings(project), store=store, secret_key=SECRET, environ={"ACME_TOKEN": TOKEN}).webhooks()


def test_two_webhooks_under_one_name_are_refused() -> None:
    class Twin(webhooks.Webhook):
        name = "mailgun"

        def authenticate(self, request: webhooks.WebhookRequest) -> None:
            return None

        def parse_events(self, payload: object) -> Parsed:
            return Parsed()

    webhooks.webhook_class("mailgun")
    with pytest.raises(ValueError, match="already registered"):
        webhooks.register(Twin)


def test_the_api_adapters_name_the_installed_version_in_their_user_agent(project: Path) -> None:
    """The version comes from the package metadata (importing the package root from an adapter made the
    import circle); it is the version pip installed."""
    from importlib.metadata import version

    config = project / "newsletter.toml"
    config.write_text(config.read_text(encoding="utf-8").replace('adapter = "outbox"', 'adapter = "brevo"'),
                      encoding="utf-8")
    adapter = base.make_adapter(load_settings(project), {"BREVO_API_KEY": "key"})
    adapter.open()
    try:
        assert adapter.session.headers["User-Agent"] == f"newsletter/{version('newsletter')}"  # type: ignore[attr-defined]
    finally:
        adapter.close()
