"""Counted links benchmark: `/c/TOKEN` redirects under waitress, and the per-message build cost of tracking.

Run with `make bench` (or `.venv/bin/python bench/clicks.py [--seconds S]`). Every ratio compares two
things measured in this same run, on this machine, on 127.0.0.1 only:

1. redirects per second of `newsletter serve`'s `/c/TOKEN` (the real app: token check, link lookup,
   the click queued and written in batches by the recorder, SQLite store) against a bare waitress app
   answering a fixed 302, both served by the same waitress settings in a process of their own and
   loaded by the same client (keep-alive connections from threads of this process); the goal: >= 50 %.
   Then SIGTERM: every click answered must be in the store (none lost on a clean stop);
2. building one recipient's complete message with counted links against the same issue without them
   (interleaved, best of 9, CPU time); the goal: <= 10 % more per message.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY = date(2026, 11, 24)
SECRET = os.environ.get("BENCH_CLICKS_KEY") or secrets.token_urlsafe(32)  # the servers get the same one
SENT = datetime(2026, 11, 24, 6, 0, tzinfo=timezone.utc)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def project(folder: Path, readers: int) -> list[str]:
    """A project with the sample issue sent to ``readers`` subscribers through the outbox; the paths of
    the counted links of their messages."""
    from newsletter.config import load_settings
    from newsletter.core.click_tokens import link_half, new_nonce
    from newsletter.delivery.engine import send_issue
    from newsletter.store.clicks import links_of
    from newsletter.store.database import open_store
    from newsletter.store.subscribers import add_subscriber

    shutil.copyfile(REPO / "newsletter.toml", folder / "newsletter.toml")
    shutil.copytree(REPO / "issues" / DAY.isoformat(), folder / "issues" / DAY.isoformat())
    settings = load_settings(folder)
    store = open_store(settings.store.url, folder)
    for n in range(readers):
        add_subscriber(store, f"reader{n}@example.org", now=SENT)
    send_issue(settings, store, DAY, secret_key=SECRET, clock=lambda: SENT)
    links = [link for link in links_of(store, DAY.isoformat()) if link.link != "-"]
    store.close()
    key = DAY.isoformat()
    nonces = [new_nonce(SECRET, key) for _ in range(readers)]
    return [f"/c/{nonce}{link_half(SECRET, key, link.position, link.link)}" for nonce in nonces for link in links]


def serve(kind: str, root: Path, port: int) -> None:
    """The server process: ``app`` (newsletter serve's app) or ``bare`` (a fixed 302), under waitress."""
    from newsletter import Newsletter
    from newsletter.config import load_settings
    from newsletter.frontends.web.server import create_server

    import logging

    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "Task queue depth" on every burst
    settings = load_settings(root)
    if kind == "bare":
        def app(environ: dict[str, object], start_response: object) -> list[bytes]:
            start_response("302 Found", [("Location", "https://www.example.org/"),  # type: ignore[operator]
                                         ("Content-Length", "0")])
            return [b""]
        server = create_server(app, settings, host="127.0.0.1", port=port, threads=8)
        nl = None
    else:
        from newsletter.frontends.web.app import create_app
        nl = Newsletter(settings, environ={"NEWSLETTER_SECRET_KEY": SECRET},
                        clock=lambda: datetime.now(timezone.utc) + timedelta(days=1))
        server = create_server(create_app(nl, listen="127.0.0.1"), settings, host="127.0.0.1", port=port, threads=8)

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        if nl is not None:
            nl.clicks.close()


def load(port: int, paths: list[str], seconds: float, connections: int) -> tuple[int, int]:
    """(302 answers, other answers) of ``connections`` keep-alive clients requesting ``paths`` for ``seconds``."""
    counts = [[0, 0] for _ in range(connections)]
    deadline = time.monotonic() + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        order = paths[n::connections] or paths
        i = 0
        while time.monotonic() < deadline:
            conn.request("GET", order[i % len(order)], headers={"User-Agent": "Mozilla/5.0 bench"})
            answer = conn.getresponse()
            answer.read()
            counts[n][0 if answer.status == 302 else 1] += 1
            i += 1
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


def redirects(root: Path, paths: list[str], seconds: float, connections: int) -> None:
    rates: dict[str, float] = {}
    for kind in ("bare", "app", "bare", "app"):  # interleaved; the best of two each
        port = _free_port()
        process = subprocess.Popen([sys.executable, __file__, "--serve", kind, "--root", str(root), "--port", str(port)],
                                   stdout=subprocess.PIPE, text=True, env=dict(os.environ, BENCH_CLICKS_KEY=SECRET))
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        before = _rows(root)
        warm, _ = load(port, paths[:200], 0.5, connections)  # warm up (imports, first queries)
        started = time.perf_counter()
        ok, other = load(port, paths, seconds, connections)
        elapsed = time.perf_counter() - started
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        rates[kind] = max(rates.get(kind, 0.0), ok / elapsed)
        if kind == "app":
            written = _rows(root) - before
            answered = warm + ok
            print(f"  /c/TOKEN: {ok:,} redirects in {elapsed:.1f} s ({ok / elapsed:,.0f}/s), {other} other answers; "
                  f"after SIGTERM {written:,} of the {answered:,} clicks answered are in the store "
                  f"({'none lost' if written == answered else 'LOST SOME'})")
        else:
            print(f"  bare 302: {ok:,} redirects in {elapsed:.1f} s ({ok / elapsed:,.0f}/s)")
    ratio = rates["app"] / rates["bare"]
    print(f"redirects: {rates['app']:,.0f}/s against {rates['bare']:,.0f}/s for a bare 302: {ratio:.0%} "
          f"(goal >= 50 %) {'OK' if ratio >= 0.5 else 'BELOW GOAL'}")


def _rows(root: Path) -> int:
    with sqlite3.connect(root / "state" / "newsletter.db") as db:
        return int(db.execute("SELECT count(*) FROM clicks").fetchone()[0])


def build_cost(root: Path, recipients: int) -> None:
    from newsletter.config import load_settings
    from newsletter.content.load import load_issue
    from newsletter.render.mime import MessageFactory, Recipient
    from newsletter.render.pipeline import render_issue
    from newsletter.render.tracking import track

    people = [Recipient(f"reader{n}@example.org", random.choice(["Léa", "Camille", ""]), "Martin", n + 1)
              for n in range(recipients)]
    plain = load_settings(root)
    with_feedback = replace(plain, analytics=replace(plain.analytics, feedback=True))
    for settings, what in ((plain, "the sample issue"), (with_feedback, "with [analytics] feedback")):
        rendered = render_issue(load_issue(settings.issues_dir, DAY, 5).issue, settings)
        tracked, links = track(rendered, settings.newsletter.base_url, SECRET)
        factories = {"off": MessageFactory(rendered, settings, secret_key=SECRET, date=SENT),
                     "on": MessageFactory(tracked, settings, secret_key=SECRET, date=SENT)}
        best = {"off": float("inf"), "on": float("inf")}
        for _ in range(9):  # interleaved; the best of each (CPU time: the least disturbed by other processes)
            for kind, factory in factories.items():
                started = time.process_time()
                for person in people:
                    factory.build(person)
                best[kind] = min(best[kind], (time.process_time() - started) / recipients)
        cost = best["on"] / best["off"] - 1
        print(f"build, {what}: {1 / best['off']:,.0f} messages/s without counted links, {1 / best['on']:,.0f}/s "
              f"with ({len(links)} links): {cost:+.1%} per message (goal <= 10 %) "
              f"{'OK' if cost <= 0.10 else 'ABOVE GOAL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="load time of each server")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--recipients", type=int, default=3000, help="messages built per factory and round")
    parser.add_argument("--serve", choices=("app", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.root, args.port)
        return
    os.environ.pop("NEWSLETTER_SECRET_KEY", None)
    with tempfile.TemporaryDirectory(prefix="bench-clicks-") as tmp:
        root = Path(tmp)
        print("Counted links (bench/clicks.py)")
        paths = project(root, readers=1000)
        random.Random(1).shuffle(paths)
        redirects(root, paths, args.seconds, args.connections)
        build_cost(root, args.recipients)


if __name__ == "__main__":
    main()
