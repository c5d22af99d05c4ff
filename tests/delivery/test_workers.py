"""Workers on the suite's PostgreSQL: several OS processes send one issue together, exactly once.

Real processes (``newsletter send DATE --workers N``, ``newsletter worker --once``) against the strict
Mailgun fake and an aiosmtpd sink; one of them is killed with ``kill -9`` and restarted, and every
recipient is still served at most once, none lost, the rows in doubt bounded by what was in flight.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import bindparam, text
from werkzeug.wrappers import Request, Response

from newsletter.audience.csv_reader import CandidateRow
from newsletter.delivery.engine import SharedRateLimiter
from newsletter.delivery.smtp import SMTPAdapter
from newsletter.store import ledger, pacing
from newsletter.store.database import Store, open_store
from newsletter.store.subscribers import import_rows
from tests.conftest import DAY, FIXTURES, SECRET
from tests.fakes import FakeMailgun, Fault, Hold, api_config, environment
from tests.sink import free_port
from tests.helpers.children import python_env
from tests.helpers.config import merge_options, remove_table, set_options

NOW = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)
T = TypeVar("T")
#: Bound on every wait for a process or a state (a loaded machine is slow, never this slow).
BOUND = 240.0


# -- servers that count what they receive -------------------------------------------------------


class TimedMailgun(FakeMailgun):
    """The Mailgun fake, noting when (its own monotonic clock) each message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def handle(self, request: Request) -> Response:
        before = len(self.inbox)
        response = super().handle(request)
        self.arrivals.extend([time.monotonic()] * (len(self.inbox) - before))
        return response

    def recipients(self) -> Counter[str]:
        with self.lock:
            return Counter(m.to for m in self.inbox)


class Counting:
    """aiosmtpd handler that keeps only each message's recipients and Message-ID (20,000 messages parse slowly)."""

    MESSAGE_ID = re.compile(rb"^Message-ID: (.+?)\r?$", re.MULTILINE | re.IGNORECASE)

    def __init__(self) -> None:
        self.rcpts: Counter[str] = Counter()
        self.message_ids: Counter[bytes] = Counter()
        self.arrivals: list[float] = []  # the server's monotonic clock at each message
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or b""
        found = self.MESSAGE_ID.search(data)
        with self.lock:
            self.rcpts.update(str(r) for r in envelope.rcpt_tos)
            self.message_ids[found.group(1) if found else b""] += 1
            self.arrivals.append(time.monotonic())
        return "250 2.0.0 Ok: queued"

    def recipients(self) -> Counter[str]:
        with self.lock:
            return Counter(self.rcpts)


class CountingSink:
    def __init__(self) -> None:
        self.handler = Counting()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "CountingSink":
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()

    def recipients(self) -> Counter[str]:
        return self.handler.recipients()


# -- a project on the shared PostgreSQL -----------------------------------------------------------


@pytest.fixture
def pg(server_url: str) -> Iterator[str]:
    """The shared PostgreSQL emptied of earlier tests' rows (sends, ledger, leases, subscribers)."""
    store = open_store(server_url, Path("."))
    with store.engine.begin() as conn:
        conn.execute(text("TRUNCATE feedback_events, send_pauses, deliveries, sends, subscribers, leases "
                          "RESTART IDENTITY CASCADE"))
    store.close()
    yield server_url


def configure(project: Path, url: str, delivery: str, *, lease: float = 60, rate: float = 100000) -> None:
    """The project on PostgreSQL, sending through ``delivery`` (its [delivery] lines), approval not required."""
    # Commits that do not wait for the disk (8 ms a commit here, 1 without): only a crash of the database
    # server could lose them, and these tests kill workers, never the server.
    set_options(project, "store", url=url + "?options=-csynchronous_commit%3Doff")
    set_options(project, "schedule", require_approval=False)
    remove_table(project, "delivery")  # the [delivery] tables are ``delivery``'s alone
    merge_options(project, f"[delivery]\nlease_seconds = {lease}\n{delivery}")
    set_options(project, "delivery", rate_per_second=rate)


def compact_layout(project: Path, adapter: str) -> None:
    """Through SMTP, the project's own small layout: aiosmtpd reads a message line by line, and 20,000
    messages of the default layout (1,400 lines each) would make the sink, not the workers, the test's pace."""
    if adapter == "smtp":
        shutil.copytree(FIXTURES / "compact_templates", project / "templates")


def smtp_delivery(port: int) -> str:
    return (f'adapter = "smtp"\nrate_per_second = 100000\n\n[delivery.smtp]\nhost = "127.0.0.1"\nport = {port}\n'
            'security = "none"\ntimeout = 60\n')


def subscribe(url: str, root: Path, n: int) -> list[str]:
    store = open_store(url, root)
    try:
        rows = [CandidateRow(i + 2, f"lecteur{i:05d}@example.org", f"Prénom{i}", "Nom", None, "test")
                for i in range(n)]
        import_rows(store, rows, now=NOW)
    finally:
        store.close()
    return [row.email for row in rows]


def environ(adapter: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env.update(environment(adapter) if adapter == "mailgun" else {})
    env.update(NEWSLETTER_SECRET_KEY=SECRET, PYTHONPATH=python_env()["PYTHONPATH"], PYTHONUNBUFFERED="1")
    return env


def newsletter(project: Path, env: dict[str, str], log: Path, *args: str) -> subprocess.Popen[bytes]:
    """``newsletter --project PROJECT ARGS…`` as its own process (output into ``log``)."""
    out = log.open("ab")
    return subprocess.Popen([sys.executable, "-m", "newsletter", "--project", str(project), *args], env=env,
                            stdout=out, stderr=subprocess.STDOUT, cwd=project)


def finished(process: subprocess.Popen[bytes], log: Path) -> int:
    try:
        return process.wait(timeout=BOUND)
    except subprocess.TimeoutExpired:
        process.kill()
        raise AssertionError(f"process {process.args} did not end within {BOUND:.0f} s:\n"
                             + log.read_text(errors="replace")[-3000:]) from None


def wait_for(what: str, condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (a store query) until it holds; fail after :data:`BOUND` seconds."""
    deadline = time.monotonic() + BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {BOUND:.0f} s")
        time.sleep(0.02)


def rows_by_status(store: Store) -> dict[str, int]:
    send_id = ledger.find_send(store, DAY)
    assert send_id is not None
    return ledger.counts(store, send_id)


def emails_in(store: Store, status: str) -> set[str]:
    with store.engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT email FROM deliveries WHERE status = :s"), {"s": status})}


def held_by(store: Store, pid: int) -> tuple[int, int, int]:
    """(rows the process holds now, of them in flight, rows it sent) in the ledger, by its run id ``host:pid:…``."""
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT status, count(*) FROM deliveries WHERE run_id LIKE :r GROUP BY status"),
                            {"r": f"%:{pid}:%"}).all()
    counts = {status: n for status, n in rows}
    return counts.get("queued", 0) + counts.get("sending", 0), counts.get("sending", 0), counts.get("sent", 0)


def at_work(store: Store, pid: int) -> bool:
    """Whether the process has messages in flight; an error if the send has nothing left for anyone."""
    if held_by(store, pid)[1]:
        return True
    left = rows_by_status(store)
    assert left.get("pending", 0) + left.get("queued", 0) + left.get("sending", 0) > 0, \
        "the send ended before the worker could be killed"
    return False


def wait_for_one(what: str, found: Callable[[], T | None]) -> T:
    """Poll ``found`` until it returns something; fail after :data:`BOUND` seconds."""
    deadline = time.monotonic() + BOUND
    while (value := found()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what} after {BOUND:.0f} s")
        time.sleep(0.02)
    return value


# -- the tests ---------------------------------------------------------------------------------------

PEOPLE = 20_000
WORKERS = 4
#: Mailgun's recording delay in the kill test (Mailgun documents half an hour). The fake records a call as it
#: accepts it, but a worker a loaded machine starves between its mark and its call (it may lose its lease
#: meanwhile) posts it later than its mark: seconds, never this long.
LOOKUP_DELAY = 10


@pytest.fixture(params=["mailgun", "smtp"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, str]]:
    """(adapter, running server that counts recipients, its [delivery] lines)."""
    if request.param == "mailgun":
        with TimedMailgun() as fake:
            yield "mailgun", fake, api_config("mailgun", fake.base_url)
    else:
        with CountingSink() as sink:
            yield "smtp", sink, smtp_delivery(sink.port)


def test_four_worker_processes_serve_every_recipient_exactly_once(project: Path, pg: str, tmp_path: Path,
                                                                   server: tuple[str, Any, str]) -> None:
    adapter, counter, delivery = server
    configure(project, pg, delivery)
    compact_layout(project, adapter)
    people = subscribe(pg, project, PEOPLE)
    log = tmp_path / "send.log"
    started = time.monotonic()
    code = finished(newsletter(project, environ(adapter), log, "send", DAY.isoformat(), "--workers", str(WORKERS)),
                    log)
    elapsed = time.monotonic() - started
    assert code == 0, log.read_text(errors="replace")[-3000:]
    received = counter.recipients()
    assert set(received) == set(people) and max(received.values()) == 1
    store = open_store(pg, project)
    try:
        assert rows_by_status(store) == {"sent": PEOPLE}
    finally:
        store.close()
    output = log.read_text(errors="replace")
    assert f"{PEOPLE} sent, 0 failed" in output
    print(f"\n{adapter}: {PEOPLE} recipients by {WORKERS} workers in {elapsed:.1f} s")


def holder_of(store: Store, emails: list[str]) -> int:
    """The pid of the run that holds these recipients' rows marked sending (its run id is ``host:pid:…``)."""
    with store.engine.connect() as conn:
        runs = set(conn.execute(text("SELECT DISTINCT run_id FROM deliveries WHERE status = 'sending' "
                                     "AND email IN :emails").bindparams(bindparam("emails", expanding=True)),
                                {"emails": emails}).scalars())
    assert len(runs) == 1, f"the held call's rows are not marked sending by one run: {runs}"
    return int(runs.pop().split(":")[1])


def test_a_worker_killed_three_times_sends_nobody_twice_and_loses_nobody(project: Path, pg: str, tmp_path: Path,
                                                                         server: tuple[str, Any, str]) -> None:
    adapter, counter, delivery = server
    # Mailgun's batches are 1,000 recipients: one connection per worker and a pace that makes the send
    # outlast three kills and restarts (SMTP, 20 per batch, lasts long enough as it is).
    # Mailgun's record of what it took (its events) settles the killed worker's call: an absence counts
    # LOOKUP_DELAY after the call could last have arrived.
    if adapter == "mailgun":
        delivery += f"connections = 1\nlookup_delay = {LOOKUP_DELAY}\n"
    configure(project, pg, delivery, lease=3, rate=500 if adapter == "mailgun" else 100000)
    compact_layout(project, adapter)
    people = subscribe(pg, project, PEOPLE)
    env, log = environ(adapter), tmp_path / "workers.log"
    # The send is started the way an operator does (render stored, recipients queued), one message sent.
    assert finished(newsletter(project, env, log, "send", DAY.isoformat(), "--limit", "1"), log) == 1
    # Workers build the messages from the render stored with the send: they need no issue files.
    shutil.move(project / "issues", tmp_path / "issues")
    store = open_store(pg, project)
    never_arrived: set[str] = set()  # Mailgun: the recipients of the call the fake refused after its sender died
    try:
        worker = ("worker", "--once", "--day", DAY.isoformat())
        crew = [newsletter(project, env, log, *worker) for _ in range(WORKERS)]
        in_flight_at_kill = []
        for kill in range(3):
            if adapter == "mailgun":
                # Killed while the fake holds its call: the first time before accepting it (the fake then refuses
                # it: it never arrived), the next two after accepting it (its answer never reached the worker).
                hold = Hold()
                with counter.lock:
                    counter.script.append(Fault(503, {"message": "Service Unavailable"}, hold=hold) if kill == 0
                                          else Fault(hold=hold))
                held = hold.wait_reached(BOUND)
                if kill == 0:
                    never_arrived = set(held)
                pid = holder_of(store, held)
                victim = next(p for p in crew if p.pid == pid)
            else:
                # Killed while it has messages in flight (marked sending): surely in the middle of the send.
                # Whichever worker it is: the others claim ahead, and a restarted one may find nothing to claim.
                victim = wait_for_one("a worker to be at work", lambda: next(
                    (p for p in crew if p.poll() is None and at_work(store, p.pid)), None))
                hold = None
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=BOUND)
            in_flight_at_kill.append(held_by(store, victim.pid)[1])
            if hold is not None:
                hold.let_go()
            crew[crew.index(victim)] = newsletter(project, env, log, *worker)
        codes = [finished(p, log) for p in crew]
        uncertain = emails_in(store, "uncertain")
        if adapter == "mailgun":
            # What the fake accepted was found at the takeover. The refused call proves its absence only once
            # lookup_delay has passed since the lookup that left it uncertain: then the next run (the operator's
            # `send` again, with the files) settles it, and sends those rows.
            assert uncertain <= never_arrived, len(uncertain - never_arrived)
            if uncertain:
                wait_for(f"{LOOKUP_DELAY} s after the rows became uncertain", lambda: recorded_before(
                    store, "uncertain", datetime.now(timezone.utc) - timedelta(seconds=LOOKUP_DELAY)))
                shutil.move(tmp_path / "issues", project / "issues")
                assert finished(newsletter(project, env, log, "send", DAY.isoformat()), log) == 0, \
                    log.read_text(errors="replace")[-3000:]
                uncertain = emails_in(store, "uncertain")
        counts = rows_by_status(store)
        sent = emails_in(store, "sent")
    finally:
        store.close()
    received = counter.recipients()
    # At most once, and nobody lost: each recipient was delivered, or is in doubt (never resent).
    assert max(received.values()) == 1
    assert set(received) | uncertain == set(people)
    assert sent <= set(received)
    assert counts.get("pending", 0) == counts.get("queued", 0) == counts.get("sending", 0) == 0
    assert sum(counts.values()) == PEOPLE
    # In doubt: no more than what the killed worker had marked in flight when it died; through SMTP, at most
    # the one message per connection between its final dot and the answer; through Mailgun, none: the call in
    # flight at each kill was looked up in its events, found there or proved never to have arrived.
    assert len(uncertain) <= sum(in_flight_at_kill)
    if adapter == "smtp":
        assert max(in_flight_at_kill) <= SMTPAdapter.default_connections, in_flight_at_kill
    if adapter == "mailgun":
        assert in_flight_at_kill == [1000] * 3 and len(never_arrived) == 1000
        assert uncertain == set() and set(received) == set(people) and sent == set(people)
    # A worker ends with 0, or with 1 when it stopped because a busy machine kept it from renewing its lease in
    # time and another run took its rows over (fenced: it sends nothing more); the send is complete either way.
    output = log.read_text(errors="replace")
    stopped_by_lease = output.count("stopped: its lease")
    assert set(codes) <= {0, 1} and codes.count(1) <= stopped_by_lease, output[-3000:]
    print(f"\n{adapter}: held by the victim at each kill {in_flight_at_kill}; uncertain {len(uncertain)} "
          f"(of them received by the server: {len(uncertain & set(received))}); sent {len(sent)}; "
          f"received {len(received)}")


def recorded_before(store: Store, status: str, moment: datetime) -> bool:
    """Whether every row in ``status`` was last written before ``moment`` (the senders' clock, as the test's)."""
    with store.engine.connect() as conn:
        last = conn.execute(text("SELECT max(updated_at) FROM deliveries WHERE status = :s"), {"s": status}).scalar()
    return last is None or last.replace(tzinfo=timezone.utc) < moment


def test_the_rate_holds_for_the_whole_send_across_three_worker_processes(project: Path, pg: str,
                                                                         tmp_path: Path) -> None:
    rate, people, workers = 30, 150, 3
    with CountingSink() as sink:
        configure(project, pg, smtp_delivery(sink.port), rate=rate)
        subscribe(pg, project, people)
        log = tmp_path / "send.log"
        code = finished(newsletter(project, environ("smtp"), log, "send", DAY.isoformat(), "--workers",
                                   str(workers)), log)
        assert code == 0, log.read_text(errors="replace")[-3000:]
        arrivals = sorted(sink.handler.arrivals)
        assert len(arrivals) == people and max(sink.recipients().values()) == 1
    store = open_store(pg, project)
    try:
        send_id = ledger.find_send(store, DAY)
        assert send_id is not None
        reserved, _ = pacing.reserved(store, send_id)
        with store.engine.connect() as conn:
            by_run = dict(conn.execute(text("SELECT run_id, count(*) FROM deliveries GROUP BY run_id")).all())
    finally:
        store.close()
    print(f"\nmessages per worker: {sorted(by_run.values())}")
    # Every message took a slot of the one pace: each worker may reserve a chunk (a quarter second) ahead
    # and send it at once, so that much is allowed as a burst. Three per-process limits let each process
    # send at the full rate (and a second of it at once): the send would take about a third of the time.
    chunk = rate // 4
    span = arrivals[-1] - arrivals[0]
    assert span >= (people - 1 - workers * chunk) / rate
    assert reserved >= people
    print(f"\n{people} messages at {rate}/s by {workers} workers: first to last {span:.2f} s "
          f"(a single pace needs at least {(people - 1) / rate:.2f} s minus bursts)")


def test_a_worker_waiting_for_sends_stops_cleanly_on_sigterm(project: Path, pg: str, tmp_path: Path) -> None:
    configure(project, pg, smtp_delivery(free_port()))
    log = tmp_path / "worker.log"
    store = open_store(pg, project)  # migrated before the worker looks
    store.close()
    worker = newsletter(project, environ("smtp"), log, "worker", "--poll", "0.5")
    # It says it is up once its SIGTERM handler is in place; then SIGTERM must end it with 0.
    def up() -> bool:
        assert worker.poll() is None, "the worker ended by itself:\n" + log.read_text(errors="replace")
        return "SIGTERM" in log.read_text(errors="replace")

    wait_for("the worker to be up", up)
    worker.send_signal(signal.SIGTERM)
    assert finished(worker, log) == 0, log.read_text(errors="replace")


def test_status_shows_each_live_worker_of_the_send(cli, project: Path, pg: str) -> None:  # type: ignore[no-untyped-def]
    import json

    from newsletter.store import leases

    configure(project, pg, smtp_delivery(free_port()))
    store = open_store(pg, project)
    try:
        send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
        clock = datetime.now(timezone.utc)
        beat = leases.Heartbeat(store, "w1", clock=lambda: clock, send_id=send_id, progress=lambda: 0)
        code, out, _ = cli("status", DAY.isoformat(), "--json")
        [shown] = json.loads(out)["workers"]
        assert shown["pid"] == os.getpid() and shown["messages"] == 0 and shown["lease_expires_at"]
        code, out, _ = cli("status", DAY.isoformat())
        assert f"pid {os.getpid()}: 0 sent, 0.0/s, lease until" in out
        beat.stop()
        code, out, _ = cli("status", DAY.isoformat(), "--json")
        assert json.loads(out)["workers"] == []  # its lease ended: not live any more
    finally:
        store.close()


def test_a_worker_that_lost_its_lease_helps_again_with_a_new_run(project: Path, pg: str) -> None:
    """A busy machine keeps a worker from renewing its lease in time: its run stops handing messages over
    (another run may own its rows). The worker then helps the send again as a new run, which settles what
    the old one held, instead of leaving the send to the others (when every worker of a loaded machine lost
    its lease, the send was left with thousands of rows pending). Here its clock jumps past the lease."""
    from newsletter.config import load_settings
    from newsletter.delivery.engine import start_send
    from newsletter.services.workers import left_undone, work

    with CountingSink() as sink:
        configure(project, pg, smtp_delivery(sink.port), lease=30)
        people = subscribe(pg, project, 40)
        settings = load_settings(project)
        origin = datetime.now(timezone.utc)
        # Once 10 messages arrived, the worker's time is a minute later: its lease (30 s) is gone.
        clock = lambda: origin + (timedelta(minutes=1) if len(sink.recipients()) >= 10 else timedelta())  # noqa: E731
        store = open_store(pg, project)
        try:
            start_send(settings, store, DAY, secret_key=SECRET, clock=clock)
            reports = work(settings, store, secret_key=SECRET, stop=threading.Event(), once=True, day=DAY,
                           clock=clock)
            counts = rows_by_status(store)
        finally:
            store.close()
        received = sink.recipients()
    assert "its lease could not be renewed in time" in reports[0].stopped and len(reports) == 2, \
        [r.stopped for r in reports]
    assert reports[-1].complete and counts.get("pending", 0) == counts.get("queued", 0) == 0
    assert not left_undone(reports, stopped=False)  # `worker --once` exits 0: the new run finished the send
    # What the first run had on the wire is in doubt (SMTP cannot be asked), everyone else served once.
    assert max(received.values()) == 1 and counts.get("uncertain", 0) <= SMTPAdapter.default_connections
    assert counts["sent"] + counts.get("uncertain", 0) == len(people) and counts["sent"] <= len(received)


@pytest.mark.parametrize(("runs", "stopped", "undone"), [
    ([("lost", 0, 5), ("done", 0, 0)], False, False),  # a run lost its lease, the next finished the send
    ([("lost", 0, 5)], False, True),  # nothing finished it
    ([("lost", 0, 5)], True, False),  # stopped on purpose: the rows wait for the next run
    ([("lost", 2, 5), ("done", 0, 0)], False, True),  # a failure stays a failure
])
def test_worker_once_judges_each_send_by_its_last_run(runs: list[tuple[str, int, int]], stopped: bool,
                                                      undone: bool) -> None:
    """`worker --once` exited 1 when one of its runs had lost its lease, though a later run of the same
    send finished it."""
    from newsletter.delivery.engine import SendReport
    from newsletter.services.workers import left_undone

    reports = [SendReport(DAY, counts={"sent": 10, "pending": left}, failed_now=failed, lease_lost=how == "lost")
               for how, failed, left in runs]
    assert left_undone(reports, stopped=stopped) is undone


def test_a_worker_stops_helping_once_another_run_paused_the_send(project: Path, pg: str) -> None:
    from newsletter.config import load_settings
    from newsletter.delivery.engine import help_send, start_send
    from newsletter.store import pauses

    with CountingSink() as sink:
        configure(project, pg, smtp_delivery(sink.port))
        subscribe(pg, project, 30)
        settings = load_settings(project)
        store = open_store(pg, project)
        try:
            opened = start_send(settings, store, DAY, secret_key=SECRET)
            pauses.record_pause(store, opened.send_id, reason="12 hard bounces", bounces=12, messages=100, now=NOW)
            report = help_send(settings, store, opened.send_id, secret_key=SECRET)
        finally:
            store.close()
        assert report.sent_now == 0 and "paused by another run" in report.stopped
        assert sink.recipients() == Counter()


def live_leases(store: Store) -> int:
    """Leases held now (dated by the senders' clock, the suite's, moved under --clock-shift; not the server's)."""
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM leases WHERE taken_by = '' AND expires_at > :now"),
                                {"now": datetime.now(timezone.utc).replace(tzinfo=None)}).scalar() or 0)


def test_sigterm_to_send_with_workers_stops_them_all_after_the_messages_in_hand(project: Path, pg: str,
                                                                                tmp_path: Path) -> None:
    with CountingSink() as sink:
        configure(project, pg, smtp_delivery(sink.port), rate=20)  # paced: the send is surely mid-way
        people = subscribe(pg, project, 200)
        log = tmp_path / "send.log"
        parent = newsletter(project, environ("smtp"), log, "send", DAY.isoformat(), "--workers", "2")
        # Both workers at work (each holds its lease: its SIGTERM handler is in place), some messages sent.
        store = open_store(pg, project)
        try:
            wait_for("both workers to be at work", lambda: live_leases(store) == 2 and len(sink.recipients()) >= 10)
        finally:
            store.close()
        parent.send_signal(signal.SIGTERM)
        code = finished(parent, log)
        received = sink.recipients()
    store = open_store(pg, project)
    try:
        counts = rows_by_status(store)
        live = live_leases(store)
        with store.engine.connect() as conn:  # said when a lease is left: which run, renewed or ended when
            held = conn.execute(text("SELECT run_id, holder, send_id, renewed_at, expires_at, taken_by, messages "
                                     "FROM leases ORDER BY renewed_at")).all()
    finally:
        store.close()
    output = log.read_text(errors="replace")
    assert code == 1 and "stopped: stop requested" in output, output[-3000:]
    # Nothing left in flight or claimed: what was handed over is recorded, the rest waits for the next run.
    assert counts.get("queued", 0) == counts.get("sending", 0) == 0 and counts.get("pending", 0) > 0
    assert counts.get("sent", 0) == len(received) and max(received.values()) == 1
    assert set(received) < set(people)
    assert live == 0, (held, output[-3000:])  # both workers ended their lease


def test_the_progress_of_send_with_workers_reads_their_leases_not_the_ledger(project: Path, pg: str) -> None:
    """The parent of `send --workers N` looks twice a second for its progress display. Counting the
    ledger's states read every row of the send each time: on 1,000,000 rows a third of a second of
    the database's CPU per look, taken from the workers (2 workers sent slower than 1). The look reads
    the workers' leases instead; measured in rows of the ledger read, whatever the machine."""
    from sqlalchemy import event

    from newsletter.store import leases
    from newsletter.services.workers import _progress_reader
    from tests.pg import analyzed, rows_read

    subscribe(pg, project, 2000)
    store = open_store(pg, project)
    try:
        send_id = ledger.get_or_create_send(store, DAY, "Objet", NOW)
        ledger.enqueue(store, send_id, NOW)
        leases.acquire(store, "before", NOW, send_id=send_id)  # a run of the send that ended earlier
        leases.end(store, "before", NOW, messages=700)
        with store.engine.begin() as conn:
            conn.execute(text("UPDATE deliveries SET status = 'sent' WHERE id <= 1500"))
            conn.execute(text("ANALYZE"))
        seen: list[int] = []
        tick = _progress_reader(store, send_id, NOW + timedelta(seconds=1), seen.append)
        clock = NOW + timedelta(seconds=2)
        beats = [leases.Heartbeat(store, name, clock=lambda: clock, send_id=send_id, progress=lambda done=done: done)
                 for name, done in (("w1", 300), ("w2", 500))]
        statements: list[tuple[str, Any]] = []

        def remember(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append((statement, parameters))

        for beat in beats:
            beat.stop()  # writes its final count on its lease
        event.listen(store.engine, "before_cursor_execute", remember)
        try:
            tick()
        finally:
            event.remove(store.engine, "before_cursor_execute", remember)
        assert seen == [800]  # the two workers' messages, not the earlier run's
        with store.engine.connect() as conn:
            read = sum(rows_read(analyzed(conn, sql, parameters), "deliveries", filtered_too=True)
                       for sql, parameters in statements)
        assert read == 0
    finally:
        store.close()


def test_a_worker_frozen_past_its_lease_loses_nobody_and_writes_nothing_once_it_wakes(project: Path, pg: str,
                                                                                      tmp_path: Path) -> None:
    """SIGSTOP while the server holds the answer to its message: another worker takes its rows over once
    its lease expires. Only that message stays in doubt; the rows it had claimed (and marked) beyond it are
    sent by the other worker. Woken with SIGCONT, the frozen worker sends nothing and records nothing over
    the rows it lost (the fence: every write of a run names it)."""
    from tests.sink import Sink

    with Sink() as sink:
        configure(project, pg, smtp_delivery(sink.port) + "connections = 1\n", lease=3)
        people = subscribe(pg, project, 30)
        env, log = environ("smtp"), tmp_path / "workers.log"
        assert finished(newsletter(project, env, log, "send", DAY.isoformat(), "--limit", "1"), log) == 1
        sink.recorder.faults.stall_at = "DATA"  # the next message's answer after the dot is held back
        worker = ("worker", "--once", "--day", DAY.isoformat())
        frozen = newsletter(project, env, log, *worker)
        try:
            assert sink.recorder.stalled.wait(BOUND), log.read_text(errors="replace")
            frozen.send_signal(signal.SIGSTOP)
            sink.recorder.faults.stall_at = ""
            sink.recorder.release.set()  # the answer waits in the frozen worker's socket
            helper = newsletter(project, env, log, *worker)
            assert finished(helper, log) == 0, log.read_text(errors="replace")[-3000:]
        finally:
            frozen.send_signal(signal.SIGCONT)
        finished(frozen, log)
        received = sink.recorder.count_by_recipient()
    store = open_store(pg, project)
    try:
        counts = rows_by_status(store)
        uncertain = emails_in(store, "uncertain")
    finally:
        store.close()
    assert max(received.values()) == 1 and set(received) == set(people), log.read_text(errors="replace")[-3000:]
    # In doubt: only the message the server had when the worker froze, as the other worker settled it.
    assert counts == {"sent": len(people) - 1, "uncertain": 1} and uncertain <= set(received), counts


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[Any, str]]:
    """A PostgreSQL server of this test's own (it restarts it; the suite's shared one must stay up)."""
    from tests.pg import PostgreSQL, binaries

    if binaries() is None:
        pytest.skip("PostgreSQL server binaries not installed (`make test` installs them)")
    server = PostgreSQL()
    try:
        yield server, server.start()
    finally:
        server.stop()


def test_send_with_workers_carries_on_through_a_database_restart(project: Path, own_server: tuple[Any, str],
                                                                  tmp_path: Path) -> None:
    """`pg_ctl restart -m fast` in the middle of `send --workers 2`: every session of the workers is cut,
    and they reconnect (with a growing pause) and finish the send; nobody is lost, doubted or sent twice."""
    server, url = own_server
    with CountingSink() as sink:
        configure(project, url, smtp_delivery(sink.port), lease=30, rate=150)  # paced: ~4 s of sending
        people = subscribe(url, project, 600)
        log = tmp_path / "send.log"
        parent = newsletter(project, environ("smtp"), log, "send", DAY.isoformat(), "--workers", "2")
        wait_for("some messages to arrive", lambda: len(sink.recipients()) >= 100 or parent.poll() is not None)
        server.restart()
        code = finished(parent, log)
        received = sink.recipients()
    output = log.read_text(errors="replace")
    store = open_store(url, project)
    try:
        counts = rows_by_status(store)
    finally:
        store.close()
    assert code == 0, output[-3000:]
    assert set(received) == set(people) and max(received.values()) == 1
    assert counts == {"sent": len(people)}, output[-3000:]


def test_a_database_that_stays_down_ends_the_send_with_a_clear_message_and_loses_nobody(
        project: Path, own_server: tuple[Any, str], tmp_path: Path) -> None:
    """The database stops for good in the middle of a send: the run waits for it as long as its lease
    lasts, then ends (exit 1) saying so; once it is back, the next run finishes, nobody sent twice."""
    server, url = own_server
    with CountingSink() as sink:
        configure(project, url, smtp_delivery(sink.port), lease=4, rate=100)
        people = subscribe(url, project, 400)
        log = tmp_path / "send.log"
        sending = newsletter(project, environ("smtp"), log, "send", DAY.isoformat())
        wait_for("some messages to arrive", lambda: len(sink.recipients()) >= 50 or sending.poll() is not None)
        server.halt()
        code = finished(sending, log)
        output = log.read_text(errors="replace")
        assert code == 1 and "the database cannot be reached" in output and "Traceback" not in output, output[-3000:]
        assert "start the database again, then run `newsletter send 2026-11-24`" in output, output[-3000:]
        server.resume()
        assert finished(newsletter(project, environ("smtp"), log, "send", DAY.isoformat()), log) == 0, \
            log.read_text(errors="replace")[-3000:]
        received = sink.recipients()
    store = open_store(url, project)
    try:
        counts = rows_by_status(store)
        uncertain = emails_in(store, "uncertain")
    finally:
        store.close()
    assert max(received.values()) == 1 and set(received) | uncertain == set(people)
    assert counts.get("sent", 0) + len(uncertain) == len(people) and len(uncertain) <= 3, counts
