"""Scaling benchmark: one issue to many subscribers on PostgreSQL, sent by 1, 2 and 4 workers.

Run by `make bench`, or alone: `.venv/bin/python bench/scale.py --subscribers 100000`.
Everything runs on this machine, on 127.0.0.1: a throwaway PostgreSQL server (as tests/pg.py
starts it), the strict Mailgun fake of tests/fakes.py in its own process (it checks every call
as the real API would, and counts each recipient instead of keeping the messages), and the
`newsletter` command line. It prints:

- the import of the generated CSV and the enqueue of the whole list into a new send's ledger
  (``ledger.enqueue``: goal < 30 s for 1,000,000 rows);
- `newsletter status DATE` on the full ledger, wall time of the command (goal < 1 s), and the
  store's part of it (the same call in this process, without the start-up of Python);
- per number of workers: messages per second over the whole send (start-up included), the
  scaling factor per added worker and per core, the peak RSS of each worker (goal: flat,
  < 200 MB), and the fake's CPU time (it shares the machine's cores with the workers);
- every recipient exactly once: the fake's count of each address is checked after each send;
- with ``--statements``: PostgreSQL's costliest statements of each send (pg_stat_statements).

How the workers are started is in :func:`worker_commands`: N `newsletter send DATE` processes
on the same send (they share it through the ledger and their leases), or, when the command line
offers it, `newsletter send DATE --workers N`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from send import DAY, NEWSLETTER, SECRET, make_project, show, write_csv  # noqa: E402

#: One issue date per send (the sample issue copied): each measured send starts a fresh ledger.
DAYS = {1: DAY, 2: date(2026, 11, 25), 4: date(2026, 11, 26)}
ADDRESS = re.compile(r"abonne(\d{7})@example\.org")


# -- the Mailgun fake, in its own process ------------------------------------------------------------

class Tally:
    """Stands in for the fake's inbox: counts each generated address instead of keeping the message."""

    def __init__(self, size: int) -> None:
        self.seen = bytearray(size)
        self.messages = 0
        self.duplicates = 0
        self.strangers = 0

    def append(self, delivered: Any) -> None:
        self.messages += 1
        match = ADDRESS.fullmatch(delivered.to)
        if match is None or int(match.group(1)) >= len(self.seen):
            self.strangers += 1
        elif self.seen[int(match.group(1))]:
            self.duplicates += 1
        else:
            self.seen[int(match.group(1))] = 1

    def summary(self) -> dict[str, int]:
        return {"messages": self.messages, "recipients": sum(self.seen), "duplicates": self.duplicates,
                "strangers": self.strangers}


def serve_fake(size: int) -> None:
    """The strict Mailgun fake until stdin closes; prints its port, then its tally and CPU time (JSON)."""
    from tests.fakes import FakeMailgun

    fake = FakeMailgun()
    tally = Tally(size)
    fake.inbox = tally  # type: ignore[assignment]
    with fake:
        print(fake.port, flush=True)
        sys.stdin.read()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({**tally.summary(), "calls": fake.accepted_calls, "cpu": usage.ru_utime + usage.ru_stime}),
          flush=True)


class FakeProcess:
    def __init__(self, size: int) -> None:
        self.process = subprocess.Popen([sys.executable, __file__, "--serve-fake", str(size)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        self.port = int(self.process.stdout.readline())

    def finish(self) -> dict[str, Any]:
        out, _ = self.process.communicate(timeout=60)
        return dict(json.loads(out.strip().splitlines()[-1]))


# -- the workers ---------------------------------------------------------------------------------------

def offers_workers() -> bool:
    """Whether `newsletter send` takes ``--workers`` (the one-command way to start N local workers)."""
    help_text = subprocess.run([str(NEWSLETTER), "send", "--help"], capture_output=True, text=True).stdout
    return "--workers" in help_text


def worker_commands(project: Path, day: date, n: int, *, one_command: bool) -> list[list[str]]:
    """The commands that send ``day``'s issue with ``n`` workers, one process per command.

    With ``one_command`` (`send --workers N` exists): that one command, whose peak RSS is then
    the largest of its processes. Otherwise N `newsletter send DATE`, which cooperate on one
    send through the ledger. This is the only place that says how workers are started.
    """
    send = [str(NEWSLETTER), "-C", str(project), "send", day.isoformat()]
    if one_command:
        return [[*send, "--workers", str(n)]]
    return [send] * n


def _children() -> dict[int, list[int]]:
    """{parent pid: child pids} of every process now running (from /proc)."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(parent, []).append(int(entry))
    return tree


def tree_cpu(root: int) -> float:
    """CPU seconds spent so far by a process, its live descendants and those it has reaped."""
    tree, todo, ticks = _children(), [root], 0
    while todo:
        pid = todo.pop()
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        todo.extend(tree.get(pid, []))
    return ticks / os.sysconf("SC_CLK_TCK")


def _peak_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """The peak RSS (VmHWM) of every process under some roots, read from /proc every 0.2 s while they run:
    the same whether a worker is a command of its own or a child of `send --workers N`."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.peaks: dict[int, int] = {}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self) -> None:
        while not self.done.wait(0.2):
            tree, todo = _children(), list(self.roots)
            while todo:
                pid = todo.pop()
                self.peaks[pid] = max(self.peaks.get(pid, 0), _peak_kb(pid))
                todo.extend(tree.get(pid, []))

    def stop(self) -> list[int]:
        """Each process's peak in MB, largest first (those that ran too briefly to be seen are left out)."""
        self.done.set()
        self.thread.join()
        return sorted((kb // 1024 for kb in self.peaks.values() if kb), reverse=True)


@dataclass
class Finished:
    wall: float
    rss_mb: list[int]
    cpu: float  #: seconds, all the worker processes together


@dataclass
class Row:
    workers: int
    finished: Finished
    database_cpu: float
    fake_cpu: float
    calls: int
    messages: int

    @property
    def rate(self) -> float:
        """Messages per second over the whole send, start-up included."""
        return self.messages / self.finished.wall


def run_workers(commands: list[list[str]], env: dict[str, str], logs: Path) -> Finished:
    """Start every command at once, wait for all; wall time and the peak RSS of each process they ran."""
    logs.mkdir(parents=True, exist_ok=True)
    show(commands[0] + ([f"(× {len(commands)})"] if len(commands) > 1 else []))
    start = time.perf_counter()
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    running = []
    for i, command in enumerate(commands):
        out = open(logs / f"worker-{i}.out", "w+", encoding="utf-8")
        running.append((subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, text=True), out))
    peaks = PeakRss([process.pid for process, _ in running])
    codes = [process.wait() for process, _ in running]
    wall = time.perf_counter() - start
    rss = peaks.stop()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    for code, (_, out) in zip(codes, running):
        out.seek(0)
        text = out.read()
        out.close()
        if code != 0:
            raise SystemExit(f"a worker failed ({code}):\n{text[-3000:]}")
    return Finished(wall, rss, used)


# -- the store -------------------------------------------------------------------------------------------

def timed(command: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    show(command)
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode not in ok:
        raise SystemExit(f"command failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return time.perf_counter() - start


def enqueue(project: Path, day: date, env: dict[str, str]) -> tuple[float, int]:
    """Create ``day``'s send and queue every active subscriber, as `newsletter send` does first."""
    from newsletter.library import Newsletter
    from newsletter.store import ledger

    nl = Newsletter.open(project, environ=env)
    store = nl.store
    now = datetime.now(timezone.utc)
    send_id = ledger.get_or_create_send(store, day, "bench", now)
    start = time.perf_counter()
    added = ledger.enqueue(store, send_id, now)
    return time.perf_counter() - start, added


def status_in_process(project: Path, day: date, env: dict[str, str], rounds: int = 3) -> float:
    """Best time of the library's ``status`` (what the command does once Python has started)."""
    from newsletter.library import Newsletter

    nl = Newsletter.open(project, environ=env)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        nl.status(day)
        best = min(best, time.perf_counter() - start)
    return best


def ledger_check(project: Path, day: date, env: dict[str, str]) -> dict[str, int]:
    from newsletter.library import Newsletter

    return dict(Newsletter.open(project, environ=env).status(day).counts)


COSTLIEST = ("SELECT total_exec_time, calls, (shared_blks_hit + shared_blks_read)::float / calls, "
             "left(regexp_replace(query, '\\s+', ' ', 'g'), 150) FROM pg_stat_statements "
             "ORDER BY total_exec_time DESC LIMIT 10")


def statements(sql: str, url: str) -> list[Any]:
    """Run one statement on the bench's server (pg_stat_statements); its rows."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


# -- the benchmark ---------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000, help="how many (default 1,000,000)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to measure, e.g. 1,2,4")
    parser.add_argument("--statements", action="store_true",
                        help="also print PostgreSQL's costliest statements of each send (pg_stat_statements)")
    parser.add_argument("--serve-fake", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake is not None:
        serve_fake(args.serve_fake)
        return
    from tests.fakes import api_config, environment
    from tests.pg import PostgreSQL, binaries

    # A stop by signal ends like an error: the PostgreSQL server is stopped and its folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("stopped by SIGTERM"))
    if binaries() is None:
        raise SystemExit("PostgreSQL's server is missing (Debian package postgresql: `make system-packages`)")
    n, counts = args.subscribers, [int(c) for c in args.workers.split(",")]
    one_command = offers_workers()
    cores = os.cpu_count() or 1
    print(f"\n7. {n:,} subscribers on PostgreSQL through the strict Mailgun fake, {cores} cores, "
          f"workers started as " + ("`newsletter send DATE --workers N`" if one_command
                                    else "N concurrent `newsletter send DATE`"))
    server = PostgreSQL()
    url = server.start(*(["shared_preload_libraries=pg_stat_statements"] if args.statements else []))
    if args.statements:
        statements("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", url)
    total = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="newsletter-scale-") as tmp:
            work = Path(tmp)
            project = make_project(work / "project", "outbox")
            for day in DAYS.values():
                if day != DAY:
                    shutil.copytree(project / "issues" / DAY.isoformat(), project / "issues" / day.isoformat())
            config = project / "newsletter.toml"
            base = config.read_text(encoding="utf-8").replace('url = "sqlite:///state/newsletter.db"',
                                                               f'url = "{url}"')
            env = {**os.environ, "NEWSLETTER_SECRET_KEY": SECRET, **environment("mailgun")}

            csv_path = work / "subscribers.csv"
            write_csv(csv_path, n)
            config.write_text(base, encoding="utf-8")
            imported = timed([str(NEWSLETTER), "-C", str(project), "subscribers", "import", str(csv_path)], env)
            print(f"   import of {n:,} rows: {imported:.1f} s ({n / imported:,.0f} rows/s)")

            postmaster = int((server.folder / "data" / "postmaster.pid").read_text().split()[0])
            rows: list[Row] = []
            enqueued: dict[int, float] = {}
            for workers in counts:
                day = DAYS.get(workers) or date(2026, 12, workers)
                if not (project / "issues" / day.isoformat()).exists():
                    shutil.copytree(project / "issues" / DAY.isoformat(), project / "issues" / day.isoformat())
                enqueued[workers], added = enqueue(project, day, env)
                if added != n:
                    raise SystemExit(f"enqueue added {added:,} rows, not {n:,}")
                fake = FakeProcess(n)
                config.write_text(base.replace('adapter = "outbox"\nrate_per_second = 1000000\n',
                                               api_config("mailgun", f"http://127.0.0.1:{fake.port}", timeout=120)),
                                  encoding="utf-8")
                if args.statements:
                    statements("SELECT pg_stat_statements_reset()", url)
                database_cpu = tree_cpu(postmaster)
                finished = run_workers(worker_commands(project, day, workers, one_command=one_command), env,
                                       work / f"logs-{workers}")
                database_cpu = tree_cpu(postmaster) - database_cpu
                tally = fake.finish()
                ledger = ledger_check(project, day, env)
                if tally["recipients"] != n or tally["duplicates"] or tally["strangers"] or ledger.get("sent") != n:
                    raise SystemExit(f"{workers} worker(s): not every recipient exactly once: fake {tally}, "
                                     f"ledger {ledger}")
                if args.statements:
                    print(f"   {workers} worker(s), PostgreSQL's costliest statements (ms in all, calls, "
                          "shared buffers hit+read per call):")
                    for line in statements(COSTLIEST, url):
                        print(f"     {line[0]:>9,.0f} ms {line[1]:>8,} calls {line[2]:>9,.0f} buffers  {line[3]}")
                rows.append(Row(workers, finished, database_cpu, float(tally["cpu"]), int(tally["calls"]), n))
                last = day
            print(f"   enqueue of {n:,} rows into a new send (ledger.enqueue): "
                  + ", ".join(f"{t:.1f} s" for t in enqueued.values()) + f" (the ledger held {0:,}"
                  + "".join(f", {n * (i + 1):,}" for i in range(len(enqueued) - 1)) + " rows before)")
            command = [str(NEWSLETTER), "-C", str(project), "status", last.isoformat()]
            wall = min(timed(command, env, ok=(0, 1)) for _ in range(3))
            inside = status_in_process(project, last, env)
            print(f"   `newsletter status` on a {n:,}-row send ({n * len(counts):,} rows in the ledger): "
                  f"{wall:.2f} s wall (best of 3), of which the library call {inside:.2f} s")
            print(f"   {'workers':>7} {'messages/s':>10} {'vs 1':>6} {'per core':>8}   CPU ms/message: workers "
                  f"PostgreSQL fake   peak RSS per process (MB)")
            single = rows[0].rate / rows[0].workers
            for row in rows:
                per_message = [1000 * cpu / n for cpu in (row.finished.cpu, row.database_cpu, row.fake_cpu)]
                print(f"   {row.workers:>7} {row.rate:>10,.0f} {row.rate / single:>5.2f}× "
                      f"{row.rate / min(row.workers, cores):>8,.0f}   {per_message[0]:>22.2f} {per_message[1]:>10.2f} "
                      f"{per_message[2]:>4.2f}   {', '.join(map(str, row.finished.rss_mb))}   "
                      f"({row.finished.wall:.0f} s wall, {row.calls:,} API calls)")
            print("   (vs 1: messages/s against one worker's; per core: messages/s divided by the cores the workers "
                  "could use)")
            print("   every recipient received the issue exactly once in each send (counted by the fake)")
    finally:
        server.stop()
    print(f"   section 7 took {time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    main()
