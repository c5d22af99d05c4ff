"""A send starts from the render its approval checked (newsletter.render.checked), and a finished send
re-run answers from the ledger: neither loads the renderer (jinja2 templates, MJML, premailer).

The renderer's absence is read in a child process (``python -m newsletter``'s own ``main``), where
nothing else has imported it; what the messages hold is compared with a render made now.
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from newsletter.config import load_settings
from newsletter.core.resources import default_templates_dir
from newsletter.delivery.engine import render_checked_issue
from newsletter.render import checked
from newsletter.render.snapshot import thaw
from newsletter.render.tracking import track
from newsletter.store import ledger, snapshots
from newsletter.store.database import open_store
from tests.conftest import DAY, SECRET
from tests.helpers.children import python_env

#: The renderer's modules: a send that starts from the checked render, or has nothing to send, loads none; nor the
#: adapters it does not use (the mail APIs' and their HTTP client, for a send through the outbox).
NOT_NEEDED = ("mjml", "premailer", "newsletter.render.pipeline", "newsletter.services.check",
              "newsletter.providers.mailgun.send", "requests")

CHILD = """
import json, sys
from newsletter.frontends.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "loaded": [m for m in %r if m in sys.modules]}))
""" % (NOT_NEEDED,)


def send_in_child(project: Path) -> dict[str, object]:
    """``newsletter send DAY`` in a fresh interpreter: its exit code and which of :data:`NOT_NEEDED` it loaded."""
    done = subprocess.run([sys.executable, "-c", CHILD, "--project", str(project), "send", DAY.isoformat()],
                          env=python_env(NEWSLETTER_SECRET_KEY=SECRET), capture_output=True, text=True, timeout=120)
    assert done.stdout.strip(), done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def messages(project: Path) -> list[EmailMessage]:
    folder = project / "out" / "outbox" / "new"
    out = []
    for path in sorted(folder.iterdir()):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        out.append(message)
    return out


def text_part(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def subscribe_and_approve(cli, n: int = 3) -> None:  # type: ignore[no-untyped-def]
    for i in range(n):
        assert cli("subscribers", "add", f"lecteur{i}@example.org", "--first-name", "Hélène")[0] == 0
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0


def test_a_send_after_the_approval_starts_from_the_render_it_checked(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    subscribe_and_approve(cli)
    result = send_in_child(project)
    assert result == {"code": 0, "loaded": []}
    assert len(messages(project)) == 3
    # What the send stored (and built every message from) is the render of the issue as it is.
    settings = load_settings(project)
    store = open_store(settings.store.url, project)
    try:
        send_id = ledger.find_send(store, DAY)
        assert send_id is not None
        stored = snapshots.load(store, send_id)
        assert stored is not None
    finally:
        store.close()
    sent, _ = thaw(stored.layout)
    # With its content links counted ([analytics] clicks, the default): the tracking pass of the send.
    now, _links = track(render_checked_issue(settings, DAY), settings.newsletter.base_url, SECRET)
    assert (sent.subject, sent.preheader, sent.html, sent.text, sent.web_url, sent.slots.slots) == \
        (now.subject, now.preheader, now.html, now.text, now.web_url, now.slots.slots)


def test_rerunning_a_finished_send_answers_from_the_ledger_without_the_renderer(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    subscribe_and_approve(cli, 2)
    assert cli("send", DAY.isoformat())[0] == 0
    shutil.rmtree(project / "out" / checked.FOLDER, ignore_errors=True)  # nothing to start from: the ledger answers
    assert send_in_child(project) == {"code": 0, "loaded": []}
    assert len(messages(project)) == 2


def test_an_edit_after_the_approval_is_rendered_anew(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    config = project / "newsletter.toml"
    text = config.read_text(encoding="utf-8")
    assert "require_approval = true" in text
    config.write_text(text.replace("require_approval = true", "require_approval = false"), encoding="utf-8")
    subscribe_and_approve(cli, 1)
    item = sorted((project / "issues" / DAY.isoformat()).glob("0*.md"))[0]
    item.write_text(item.read_text(encoding="utf-8").rstrip() + "\n\nAjoutMarqueApresApprobation.\n",
                    encoding="utf-8")
    templates = shutil.copytree(default_templates_dir(), project / "templates")
    plain = templates / "email.txt.j2"
    plain.write_text("Édition spéciale du gabarit\n" + plain.read_text(encoding="utf-8"), encoding="utf-8")
    assert cli("send", DAY.isoformat())[0] == 0
    body = text_part(messages(project)[0])
    assert "AjoutMarqueApresApprobation" in body and "Édition spéciale du gabarit" in body


def test_an_unreadable_checked_render_is_made_again(cli, project: Path) -> None:  # type: ignore[no-untyped-def]
    subscribe_and_approve(cli, 1)
    kept = list((project / "out" / checked.FOLDER).glob(f"{DAY.isoformat()}-*.json"))
    assert len(kept) == 1
    kept[0].write_text('{"version": 1, "key": "cut', encoding="utf-8")
    assert cli("send", DAY.isoformat())[0] == 0
    assert "Hélène" in text_part(messages(project)[0])
    settings = load_settings(project)
    assert checked.load(settings, DAY, checked.inputs_digest(settings, DAY)) is not None  # kept again by the send
