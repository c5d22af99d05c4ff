"""Rendering benchmark: stages of one issue, render-once + substitution, cold `newsletter build`.

Run with `make bench` (or `.venv/bin/python bench/render.py [--recipients N]`). Every ratio
compares two things measured in this same run, on this machine:

1. check + render + inline of the sample issue, and the share of each stage;
2. personalizing N recipients from the master (render once, substitute per recipient)
   against rendering a Jinja2 template per recipient (the usual mail-merge), and against
   running the whole pipeline per recipient (measured on a few, scaled to N);
3. the wall time of a cold `newsletter build` (interpreter start included), next to a bare
   `python -c pass` for reference.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Callable, Iterator

import jinja2
import premailer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import newsletter.render.html as html_stage  # noqa: E402
from newsletter.config import load_settings  # noqa: E402
from newsletter.services.check import check_issue  # noqa: E402
from newsletter.content.load import load_issue  # noqa: E402
from newsletter.core.merge import TOKEN_RE  # noqa: E402
from newsletter.render.pipeline import render_issue  # noqa: E402

DAY = date(2026, 11, 24)


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of ``repeat`` runs, in seconds (the least disturbed by the machine)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@contextmanager
def stage_timer(totals: dict[str, float]) -> Iterator[None]:
    """Time the MJML and premailer stages by wrapping them for the duration of the block."""
    original_mjml, original_transform = html_stage.mjml_to_html, premailer.Premailer.transform

    def timed(name: str, fn: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[name] = totals.get(name, 0.0) + time.perf_counter() - start

        return wrapper

    html_stage.mjml_to_html = timed("mjml", original_mjml)  # type: ignore[assignment]
    premailer.Premailer.transform = timed("premailer", original_transform)  # type: ignore[method-assign]
    try:
        yield
    finally:
        html_stage.mjml_to_html = original_mjml
        premailer.Premailer.transform = original_transform  # type: ignore[method-assign]


def recipients(n: int) -> list[dict[str, str]]:
    return [
        {
            "first_name": f"Prénom{i}",
            "last_name": f"Nom{i}",
            "email": f"abonne{i}@example.org",
            "unsubscribe_url": f"https://news.example.org/u/token{i:08d}",
        }
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=10_000)
    args = parser.parse_args()
    settings = load_settings(REPO)
    print(f"Sample issue {DAY.isoformat()}, {args.recipients:,} recipients, Python {sys.version.split()[0]}\n")

    # 1. Stages of one issue.
    check_issue(settings, DAY)  # warm caches once, as a long-lived process would be
    totals: dict[str, float] = {}
    runs = 10
    start = time.perf_counter()
    with stage_timer(totals):
        for _ in range(runs):
            check_issue(settings, DAY)
    total = (time.perf_counter() - start) / runs
    load = best_of(lambda: load_issue(settings.issues_dir, DAY, 5), 10)
    mjml, inline = totals["mjml"] / runs, totals["premailer"] / runs
    other = total - load - mjml - inline
    print("1. check + render + inline, one issue (mean of 10)")
    print(f"   total                      {total * 1000:7.1f} ms")
    for name, value in (("load files", load), ("Markdown + Jinja2 + checks", other), ("MJML → HTML", mjml),
                        ("premailer (inline CSS)", inline)):
        print(f"   {name:<26} {value * 1000:7.1f} ms  {value / total:6.1%}")

    # 2. Personalization: render once + substitute, against Jinja2 per recipient.
    issue = load_issue(settings.issues_dir, DAY, 5).issue
    rendered = render_issue(issue, settings)
    people = recipients(args.recipients)

    def substitute() -> None:
        for values in people:
            rendered.personalize(values)

    slots = rendered.slots.slots

    def as_jinja(master: str) -> str:
        return TOKEN_RE.sub(lambda m: "{{ " + slots[int(m.group(1))].field + " }}", master)

    env = jinja2.Environment(autoescape=True)
    html_template = env.from_string(as_jinja(rendered.html))
    text_template = jinja2.Environment(autoescape=False).from_string(as_jinja(rendered.text))

    def jinja_per_recipient() -> None:
        for values in people:
            html_template.render(values)
            text_template.render(values)

    t_sub = best_of(substitute, 3)
    t_jinja = best_of(jinja_per_recipient, 3)
    few = 10
    t_full = best_of(lambda: [render_issue(issue, settings) for _ in range(few)], 1) / few * args.recipients
    print(f"\n2. personalizing {args.recipients:,} recipients (HTML + text)")
    print(f"   render once + substitution {t_sub:8.3f} s   {args.recipients / t_sub:>10,.0f} recipients/s")
    print(f"   Jinja2 render per recipient{t_jinja:8.3f} s   {args.recipients / t_jinja:>10,.0f} recipients/s"
          f"   → substitution is {t_jinja / t_sub:.1f}× faster")
    print(f"   whole pipeline per recipient{t_full:7.0f} s   (measured on {few}, scaled)"
          f"   → substitution is {t_full / t_sub:,.0f}× faster")

    # 3. Cold `newsletter build`, interpreter start included.
    exe = Path(sys.executable).with_name("newsletter")
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "p"
        project.mkdir()
        shutil.copyfile(REPO / "newsletter.toml", project / "newsletter.toml")
        shutil.copytree(REPO / "issues" / DAY.isoformat(), project / "issues" / DAY.isoformat())

        def cold_build() -> None:
            subprocess.run([str(exe), "-C", str(project), "build", DAY.isoformat()], check=True,
                           stdout=subprocess.DEVNULL)

        def bare_python() -> None:
            subprocess.run([sys.executable, "-c", "pass"], check=True)

        builds = [best_of(cold_build, 1) for _ in range(5)]
        bare = best_of(bare_python, 5)
    print("\n3. cold `newsletter build` (5 runs, wall time, interpreter start included)")
    print(f"   median {statistics.median(builds):.2f} s, best {min(builds):.2f} s"
          f"   (bare `python -c pass`: {bare:.2f} s; target ≤ 1 s)")


if __name__ == "__main__":
    main()
