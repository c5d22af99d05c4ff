"""What ``newsletter send`` loads when the issue is finished: the store and the ledger, not the renderer,
the message builder or the transport (issue 22: a no-op re-send of a finished issue is a fraction of a
second). Checked on the modules a fresh process imported, never on a duration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DAY, SECRET

#: Runs the command line as ``newsletter`` does, then writes its exit code and every module it imported.
PROBE = ("import json, sys\n"
         "from newsletter.frontends.cli import main\n"
         "code = main(sys.argv[2:])\n"
         "with open(sys.argv[1], 'w', encoding='utf-8') as handle:\n"
         "    json.dump({'code': code, 'modules': sorted(sys.modules)}, handle)\n")

#: What only a run that renders, builds or hands over messages needs (the outbox adapter is loaded anyway, to
#: say where its folder is; SMTP's is not; nor DKIM's signer, with cryptography's keys and a process pool, nor
#: the counted links); nor the tables of what a send with nothing to do neither reads nor writes: the feedback
#: events (read while messages go out), the corrections and the archive's pages (the ledger needs only who
#: receives the issue from the readers' module), the resends and the send's history (``status`` shows them).
NOT_FOR_A_NO_OP = ("jinja2", "premailer", "markdown_it", "nh3", "newsletter.render.pipeline", "newsletter.render.mime",
                   "newsletter.delivery.smtp", "smtplib", "newsletter.services.check", "newsletter.delivery.dkim",
                   "concurrent.futures.process", "newsletter.render.tracking", "newsletter.store.clicks",
                   "newsletter.store.feedback", "newsletter.store.corrections", "newsletter.store.archive",
                   "newsletter.store.resends", "newsletter.store.history")


def _modules_of(project: Path, tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    out = tmp_path / "modules.json"
    subprocess.run([sys.executable, "-c", PROBE, str(out), "--project", str(project), *args], check=True,
                   env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET}, capture_output=True, timeout=180)
    found = json.loads(out.read_text(encoding="utf-8"))
    return found["code"], set(found["modules"])


@pytest.mark.parametrize("transport", ["outbox", "smtp"])
def test_a_send_with_nothing_left_to_do_loads_no_renderer_builder_or_transport(cli, project: Path,  # type: ignore[no-untyped-def]
                                                                                 tmp_path: Path, transport: str) -> None:
    from tests.helpers.sending import smtp_config
    from tests.sink import Sink

    assert cli("subscribers", "add", "camille@example.org")[0] == 0
    with Sink() as relay:
        if transport == "smtp":
            smtp_config(project, relay.port)
        assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0
        code, out, _ = cli("send", DAY.isoformat())
    assert code == 0 and "1 sent" in out
    code, modules = _modules_of(project, tmp_path, "send", DAY.isoformat())
    assert code == 0
    assert "newsletter.delivery.engine" in modules  # the probe did run the send
    assert sorted(modules.intersection(NOT_FOR_A_NO_OP)) == []


def test_the_first_send_loads_what_it_needs(cli, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The counterpart: the probe sees what a real send imports (the message builder and the transport), but
    not the spelling dictionary: a send needs the check's errors only, and spelling gives warnings."""
    assert cli("subscribers", "add", "camille@example.org")[0] == 0
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0
    code, modules = _modules_of(project, tmp_path, "send", DAY.isoformat())
    assert code == 0
    assert {"newsletter.render.mime", "newsletter.delivery.outbox"} <= modules
    assert not {"enchant", "newsletter.content.spelling"} & modules


def test_a_send_through_smtp_without_dkim_loads_no_signer(cli, project: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Without ``[dkim]``, the SMTP transport neither imports the signer nor starts its process pool."""
    from tests.helpers.sending import smtp_config
    from tests.sink import Sink

    assert cli("subscribers", "add", "camille@example.org")[0] == 0
    assert cli("approve", DAY.isoformat(), "--by", "Camille Martin")[0] == 0
    with Sink() as relay:
        smtp_config(project, relay.port)
        code, modules = _modules_of(project, tmp_path, "send", DAY.isoformat())
        assert code == 0 and len(relay.recorder.raw) == 1
    assert "newsletter.delivery.smtp" in modules
    assert not {"newsletter.delivery.dkim", "concurrent.futures.process"} & modules


def _at_exit(said: str) -> str:
    """The command as the ``newsletter`` script runs it (``sys.exit(main())``), printing ``said`` (an
    expression on ``gc``) on stderr at exit."""
    return ("import atexit, gc, sys\n"
            f"atexit.register(lambda: print('seen', {said}, file=sys.stderr))\n"
            "from newsletter.frontends.cli import main\n"
            "sys.exit(main())\n")


@pytest.mark.parametrize(("said", "least"), [
    # every object the command left is spared the interpreter's last collections, not only the few made after it
    ("gc.get_freeze_count()", 10_000),
    # the collector lets 10,000 new objects pass between two looks at the young ones (Python's default: 700)
    ("gc.get_threshold()[0]", 10_000),
], ids=["frozen at exit", "young objects' threshold"])
def test_the_command_spends_little_time_in_the_collector(project: Path, said: str, least: int) -> None:
    done = subprocess.run([sys.executable, "-c", _at_exit(said), "--project", str(project), "subscribers", "list"],
                          env={**os.environ, "NEWSLETTER_SECRET_KEY": SECRET}, capture_output=True, text=True,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert int(done.stderr.rsplit("seen", 1)[1].split()[0]) >= least


def test_main_called_with_arguments_leaves_the_collector_alone(cli) -> None:  # type: ignore[no-untyped-def]
    """Tests and embedders call ``main(argv)`` in a process that goes on: nothing of theirs is frozen, and the
    collector keeps their thresholds."""
    import gc

    before, threshold = gc.get_freeze_count(), gc.get_threshold()
    assert cli("subscribers", "list")[0] == 0
    assert gc.get_freeze_count() == before
    assert gc.get_threshold() == threshold
