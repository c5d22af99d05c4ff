"""The ``init`` and ``new`` commands: a project from the built-in files, an issue folder of stubs.

Where the built-in files live is :mod:`newsletter.core.resources`; the stubs' placeholder
sentences are :mod:`newsletter.content.stubs`, which ``check`` refuses.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from newsletter.content.stubs import STUB_PLACEHOLDERS
from newsletter.errors import N_, ScaffoldError
from newsletter.core.atomic import locked
from newsletter.core.resources import resource_root

SAMPLE_ISSUE = "2026-11-24"


def init_project(target: Path) -> list[Path]:
    """Create a working newsletter project in ``target``: config, templates, a sample issue, a CSV.

    :return: the files created.
    :raises ScaffoldError: when ``target`` already holds a project (nothing is overwritten).
    """
    src = resource_root()
    plan = [
        (src / "newsletter.toml", target / "newsletter.toml"),
        (src / "subscribers.example.csv", target / "subscribers.example.csv"),
        (src / "dictionary.txt", target / "dictionary.txt"),
        (src / "templates", target / "templates"),
        (src / "issues" / SAMPLE_ISSUE, target / "issues" / SAMPLE_ISSUE),
    ]
    clashes = [dst for _, dst in plan if dst.exists()]
    if clashes:
        raise ScaffoldError(N_("%(folder)s already has %(files)s; nothing was written"),
                            hint=N_("choose an empty folder, or move those files away first"),
                            values={"folder": target, "files": ", ".join(str(c.relative_to(target)) for c in clashes)})
    target.mkdir(parents=True, exist_ok=True)
    created: list[Path] = []
    for source, dst in plan:
        if source.is_dir():
            shutil.copytree(source, dst)
            created.extend(sorted(p for p in dst.rglob("*") if p.is_file()))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dst)
            created.append(dst)
    gitignore = target / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text("out/\nstate/\n.venv/\n", encoding="utf-8")
        created.append(gitignore)
    return created


_ISSUE_STUB = """\
# Objet de l’email (78 caractères au plus) et texte d’aperçu (110 au plus).
subject: ""
preheader: ""
intro: |
  Bonjour {{ first_name | default("à toutes et à tous") }}, voici vos infos du jour.
"""

_ITEM_STUB = f"""\
---
title: ""            # le titre de l’info (obligatoire)
source: ""           # qui le dit : « Kantar TNS, Connected Life » (obligatoire)
url: ""              # facultatif : lien « Lire la suite », en https://
tag: ""              # facultatif : « Études », « Tendances »…
---
{STUB_PLACEHOLDERS[0]}

1. {STUB_PLACEHOLDERS[1]}
2. {STUB_PLACEHOLDERS[2]}
"""

#: Item stubs written by earlier versions of ``newsletter new``: still free slots for ``draft``.
_EARLIER_ITEM_STUBS = (_ITEM_STUB.replace("le titre de l’info", "le titre de l'info"),)


def is_item_stub(text: str) -> bool:
    """Whether ``text`` is an item stub of ``newsletter new`` left as written (this version's or an earlier one's)."""
    return text == _ITEM_STUB or text in _EARLIER_ITEM_STUBS


def new_issue(issues_dir: Path, day: date, items: int) -> list[Path]:
    """Create ``issues/DATE`` with an ``issue.yaml`` and ``items`` item stubs.

    The stubs leave the required fields empty and hold placeholder sentences
    (:data:`STUB_PLACEHOLDERS`), so ``check`` flags them until they are written.

    :raises ScaffoldError: when the folder already exists.
    """
    folder = issues_dir / day.isoformat()
    if folder.exists():
        raise ScaffoldError(N_("%(folder)s already exists; nothing was written"),
                            hint=N_("edit the files in it instead"), values={"folder": folder})
    folder.mkdir(parents=True)
    created = [folder / "issue.yaml"]
    with locked(folder):  # the desk's saves wait until every stub is there
        created[0].write_text(_ISSUE_STUB, encoding="utf-8")
        for n in range(1, items + 1):
            path = folder / f"{n:02d}-info-{n}.md"
            path.write_text(_ITEM_STUB, encoding="utf-8")
            created.append(path)
    return created
