"""Editing issue files from the desk: versioned saves, atomic writes, renumbering, git commits."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from flask.testing import FlaskClient

from newsletter import Newsletter
from newsletter.errors import ContentError, UsageError
from tests.conftest import DAY
from tests.helpers.desk import Clock, csrf_token, desk_config
from tests.helpers.children import python_env
from tests.helpers.desk import form_of, issue_form


@dataclass(frozen=True)
class Editor:
    name: str = "camille"
    email: str = "camille@example.org"


ME = Editor()


def test_a_save_rewrites_the_item_and_keeps_what_the_form_does_not_show(nl: Newsletter, issue_dir: Path) -> None:
    draft = nl.issues.read(DAY)
    item = draft.items[0]
    fields = {**item.fields, "title": "Un nouveau titre : avec deux-points", "tag": "yes"}
    nl.issues.save_item(DAY, item.name, fields, "Un texte **neuf**.\n\nSur deux paragraphes.", item.version, ME)
    again = nl.issues.read(DAY).item(item.name)
    assert again.fields["title"] == "Un nouveau titre : avec deux-points" and again.fields["tag"] == "yes"
    assert again.body == "Un texte **neuf**.\n\nSur deux paragraphes."
    assert nl.check(DAY).errors == 0  # what the desk writes, check reads


@pytest.mark.parametrize("target", ["item", "issue.yaml"])
def test_a_save_based_on_an_outdated_version_is_refused_and_overwrites_nothing(nl: Newsletter, issue_dir: Path,
                                                                              target: str) -> None:
    draft = nl.issues.read(DAY)
    path = issue_dir / (draft.items[0].name if target == "item" else "issue.yaml")
    seen_by_form = draft.items[0].version if target == "item" else draft.version
    path.write_text(path.read_text(encoding="utf-8").replace("Le", "La", 1), encoding="utf-8")  # someone else
    theirs = path.read_bytes()
    with pytest.raises(nl.issues.Stale, match="changed by someone else"):
        if target == "item":
            nl.issues.save_item(DAY, draft.items[0].name, draft.items[0].fields, "mine", seen_by_form, ME)
        else:
            nl.issues.save_fields(DAY, {"subject": "mine"}, seen_by_form, ME)
    assert path.read_bytes() == theirs


def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_file(nl: Newsletter, issue_dir: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    draft = nl.issues.read(DAY)
    path = issue_dir / draft.items[0].name
    before = path.read_bytes()

    def full_disk(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(ContentError, match="No space left"):
        nl.issues.save_item(DAY, draft.items[0].name, draft.items[0].fields, "new text", draft.items[0].version, ME)
    assert path.read_bytes() == before
    assert [p.name for p in issue_dir.iterdir() if p.name.startswith(".")] == []


def test_a_save_replaces_the_file_by_rename(nl: Newsletter, issue_dir: Path) -> None:
    draft = nl.issues.read(DAY)
    path = issue_dir / draft.items[0].name
    inode = path.stat().st_ino
    nl.issues.save_item(DAY, draft.items[0].name, draft.items[0].fields, "new text", draft.items[0].version, ME)
    assert path.stat().st_ino != inode  # a new file renamed over the old one, never rewritten in place


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.md"))


def test_items_are_added_removed_and_reordered_with_their_numbers_following(nl: Newsletter, issue_dir: Path) -> None:
    first = names(issue_dir)
    added = nl.issues.add_item(DAY, ME)
    assert added == f"{len(first) + 1:02d}-info-{len(first) + 1}.md"
    moved = nl.issues.move_item(DAY, added, -1, ME)
    assert moved.startswith(f"{len(first):02d}-info-") and names(issue_dir)[-1].split("-", 1)[1] == \
        first[-1].split("-", 1)[1]
    second = nl.issues.read(DAY).items[1]
    nl.issues.remove_item(DAY, second.name, second.version, ME)
    numbers = [int(name[:2]) for name in names(issue_dir)]
    assert numbers == list(range(1, len(first) + 1))
    assert second.name.split("-", 1)[1] not in [n.split("-", 1)[1] for n in names(issue_dir)]


def test_removing_an_item_changed_meanwhile_is_refused(nl: Newsletter, issue_dir: Path) -> None:
    item = nl.issues.read(DAY).items[0]
    (issue_dir / item.name).write_text("---\ntitle: \"x\"\nsource: \"y\"\n---\nz\n", encoding="utf-8")
    with pytest.raises(nl.issues.Stale):
        nl.issues.remove_item(DAY, item.name, item.version, ME)
    assert (issue_dir / item.name).exists()


def test_a_new_issue_holds_the_stubs_newsletter_new_writes(nl: Newsletter, project: Path, tmp_path: Path) -> None:
    from datetime import date

    day = date(2026, 11, 25)
    draft = nl.issues.create(day, ME)
    other = tmp_path / "other"
    other.mkdir()
    with Newsletter.open(project) as plain:
        plain.new_issue(date(2026, 11, 26))
    made = sorted(p.name for p in draft.folder.iterdir())
    assert made == sorted(p.name for p in (project / "issues" / "2026-11-26").iterdir())
    for name in made:
        assert (draft.folder / name).read_bytes() == (project / "issues" / "2026-11-26" / name).read_bytes()


def test_problems_point_at_the_field_they_concern(nl: Newsletter, issue_dir: Path) -> None:
    item = nl.issues.read(DAY).items[1]
    nl.issues.save_item(DAY, item.name, {**item.fields, "title": "", "url": "javascript:alert(1)"},
                        "Un texte.", item.version, ME)
    preview = nl.issues.preview(DAY, asset_base="/assets/")
    placed = {(p.file, p.field) for p in preview.problems}
    assert (item.name, "title") in placed and (item.name, "url") in placed


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout


def test_with_git_commit_each_save_is_a_commit_authored_by_the_editor(project: Path, clock: Clock) -> None:
    desk_config(project, "[desk]\ngit_commit = true\n")
    git(project, "init", "-q")
    git(project, "-c", "user.name=setup", "-c", "user.email=setup@example.org", "add", "-A")
    git(project, "-c", "user.name=setup", "-c", "user.email=setup@example.org", "commit", "-qm", "start")
    with Newsletter.open(project, clock=clock) as nl:
        item = nl.issues.read(DAY).items[0]
        nl.issues.save_item(DAY, item.name, item.fields, "Un texte revu.", item.version, ME)
    log = git(project, "log", "-1", "--format=%an <%ae>|%cn|%s", "--name-only")
    assert log.startswith("camille <camille@example.org>|newsletter desk|Edit " + item.name)
    assert f"issues/{DAY.isoformat()}/{item.name}" in log
    assert git(project, "status", "--porcelain", "--", "issues") == ""


def test_without_git_commit_nothing_is_committed(nl: Newsletter, project: Path) -> None:
    git(project, "init", "-q")
    item = nl.issues.read(DAY).items[0]
    nl.issues.save_item(DAY, item.name, item.fields, "Un texte revu.", item.version, ME)
    assert subprocess.run(["git", "-C", str(project), "log"], capture_output=True).returncode != 0  # no commit


# -- through the desk ---------------------------------------------------------------------------


def test_a_stale_save_through_the_desk_is_refused_with_a_clear_message(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path) -> None:
    client = signed_in("editor")
    page = client.get(f"/issues/{DAY.isoformat()}").get_data(as_text=True)
    name = sorted(p.name for p in issue_dir.glob("*.md"))[0]
    form = issue_form(page)
    (issue_dir / name).write_text((issue_dir / name).read_text(encoding="utf-8") + "\nAjout.\n", encoding="utf-8")
    theirs = (issue_dir / name).read_bytes()
    meta = (issue_dir / "issue.yaml").read_bytes()
    response = client.post(f"/issues/{DAY.isoformat()}/save", data={**form, f"{name}:body": "Mon texte à moi.",
                                                                     "subject": "Mon objet à moi"})
    assert response.status_code == 409
    text = response.get_data(as_text=True)
    assert "a été modifié par quelqu’un d’autre" in text and "rien n’a été écrasé" in text
    assert "Mon texte à moi." in text and "Mon objet à moi" in text  # the editor's text is not lost
    assert (issue_dir / name).read_bytes() == theirs
    assert (issue_dir / "issue.yaml").read_bytes() == meta  # all or nothing: the fresh file is not written either


def test_a_save_through_the_desk_writes_the_file_and_records_the_editor(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path, nl: Newsletter) -> None:
    client = signed_in("editor")
    page = client.get(f"/issues/{DAY.isoformat()}").get_data(as_text=True)
    form = issue_form(page)
    before = {path.name: path.read_bytes() for path in issue_dir.glob("*.md")}
    response = client.post(f"/issues/{DAY.isoformat()}/save", data={**form, "subject": "Un objet tout neuf",
                                                                     "02-mobile.md:title": "Un titre tout neuf"})
    assert response.status_code == 302
    assert 'subject: "Un objet tout neuf"' in (issue_dir / "issue.yaml").read_text(encoding="utf-8")
    assert 'title: "Un titre tout neuf"' in (issue_dir / "02-mobile.md").read_text(encoding="utf-8")
    unchanged = {name: data for name, data in before.items() if name != "02-mobile.md"}
    assert {name: (issue_dir / name).read_bytes() for name in unchanged} == unchanged  # untouched, not rewritten
    assert nl.users.editors(DAY) == ("editor",)


def test_a_value_the_desk_refuses_shows_the_page_again_with_everything_typed(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path) -> None:
    client = signed_in("editor")
    form = issue_form(client.get(f"/issues/{DAY.isoformat()}").get_data(as_text=True))
    before = {path.name: path.read_bytes() for path in issue_dir.iterdir() if path.is_file()}
    response = client.post(f"/issues/{DAY.isoformat()}/save", data={**form, "subject": "Mon objet",
                                                                     "01-bots.md:title": "x" * 2001})
    assert response.status_code == 400
    assert "Mon objet" in response.get_data(as_text=True)
    assert {path.name: path.read_bytes() for path in issue_dir.iterdir() if path.is_file()} == before


HOSTILE = ['Le "Big Data" : 3 V', "a: b", "« Big Data »", "back\\slash \\n", "- tiret", "#dièse", "' apostrophe",
           "{[&*!|>%@`", "null", "yes", "~", "0x1F", "...", "---", "x\x85y", "x\u2028y\u2029z", "\x96 C1", "é\ufeff",
           "tab\there", "   espaces   ", "\\\"", "%(file)s"]


@pytest.mark.parametrize("value", HOSTILE)
def test_whatever_an_editor_types_is_written_as_valid_yaml_and_read_back_exactly(
        nl: Newsletter, issue_dir: Path, value: str) -> None:
    draft = nl.issues.read(DAY)
    item = draft.items[0]
    intro = f"Première ligne {value}\n{value}"
    nl.issues.save_issue(DAY, {"subject": value, "preheader": value, "intro": intro}, draft.version,
                         {item.name: ({**item.fields, "title": value, "source": value}, item.body, item.version)}, ME)
    expected = " ".join(value.split())  # one-line fields: runs of spaces are one space, as the desk keeps them
    again = nl.issues.read(DAY)
    assert again.fields["subject"] == again.fields["preheader"] == expected
    assert again.fields["intro"].rstrip("\n") == intro.strip("\n")
    assert again.items[0].fields["title"] == again.items[0].fields["source"] == expected
    import yaml

    assert yaml.safe_load((issue_dir / "issue.yaml").read_text(encoding="utf-8"))["subject"] == expected
    from newsletter.services.check import check_issue

    report = check_issue(nl.settings, DAY)
    assert not [p for p in report.problems if "YAML" in p.message or "cannot be read" in p.message], report.problems


def test_a_removed_item_is_restored_in_its_place_byte_for_byte(nl: Newsletter, issue_dir: Path) -> None:
    before = {path.name: path.read_bytes() for path in issue_dir.glob("*.md")}
    item = nl.issues.read(DAY).items[2]
    token = nl.issues.remove_item(DAY, item.name, item.version, ME)
    assert len(list(issue_dir.glob("*.md"))) == 4 and nl.issues.removed(DAY, token) == item.fields["title"]
    assert nl.issues.restore_item(DAY, token, ME) == item.name
    assert {path.name: path.read_bytes() for path in issue_dir.glob("*.md")} == before
    assert nl.issues.removed(DAY, token) is None
    with pytest.raises(UsageError):
        nl.issues.restore_item(DAY, token, ME)  # once only
    with pytest.raises(UsageError):
        nl.issues.restore_item(DAY, "../../etc", ME)


# -- images -------------------------------------------------------------------------------------

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
       b"\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def upload(client: FlaskClient, issue_dir: Path, data: bytes, filename: str, alt: str) -> tuple[int, str, str]:
    import io

    url = f"/issues/{DAY.isoformat()}"
    page = client.get(url).get_data(as_text=True)
    name = sorted(p.name for p in issue_dir.glob("*.md"))[1]
    form = form_of(page, f"{url}/items/{name}/image")
    response = client.post(f"{url}/items/{name}/image", content_type="multipart/form-data",
                           data={**form, "alt": alt, "file": (io.BytesIO(data), filename)})
    return response.status_code, client.get(url).get_data(as_text=True), name


def test_an_uploaded_image_lands_in_images_and_becomes_the_items_image(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path, nl: Newsletter) -> None:
    status, page, name = upload(signed_in("editor"), issue_dir, PNG, "../../Graphique Été.PNG", "Un graphique")
    assert status == 302 and "images/graphique-ete.png" in page
    assert (issue_dir / "images" / "graphique-ete.png").read_bytes() == PNG
    item = nl.issues.read(DAY).item(name)
    assert item.fields["image"] == "images/graphique-ete.png" and item.fields["image_alt"] == "Un graphique"
    assert nl.check(DAY).errors == 0


@pytest.mark.parametrize(("data", "filename", "alt", "message"), [
    (PNG, "chart.png", "  ", "Décrivez l’image"),
    (b"<svg onload=alert(1)>", "chart.png", "Un graphique", "n’est pas une image PNG, JPEG ou GIF"),
    (PNG + b"\0" * 2_000_000, "chart.png", "Un graphique", "plus grande que"),
])
def test_an_upload_without_alt_text_not_an_image_or_too_large_is_refused(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path, data: bytes, filename: str, alt: str,
        message: str) -> None:
    before = sorted(p.name for p in (issue_dir / "images").iterdir())
    status, page, _ = upload(signed_in("editor"), issue_dir, data, filename, alt)
    assert status in (302, 413)
    assert message in page
    assert sorted(p.name for p in (issue_dir / "images").iterdir()) == before


def _waiting_on_a_lock(pid: int) -> bool:
    """Whether process ``pid`` waits for a ``flock`` (``/proc/locks`` lists waiters after ``->``)."""
    return any("->" in line and f" {pid} " in line for line in Path("/proc/locks").read_text().splitlines())


def test_a_cli_approval_during_a_desk_save_waits_until_the_save_is_written(nl: Newsletter, project: Path,
                                                                           issue_dir: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The desk is held between its version check and its rename; `newsletter approve` in another process
    must wait for it (old code: it read the files mid-save, and the approval was stale at once)."""
    import sys
    import threading
    import time

    from newsletter.library import editing

    draft = nl.issues.read(DAY)
    item = draft.items[0]
    in_window, go_on = threading.Event(), threading.Event()
    real_write = editing.atomic_write

    def held_write(path: Path, data: bytes) -> None:
        in_window.set()
        assert go_on.wait(30)
        real_write(path, data)

    monkeypatch.setattr(editing, "atomic_write", held_write)
    saver = threading.Thread(target=nl.issues.save_item,
                             args=(DAY, item.name, item.fields, "Le texte du desk.", item.version, ME))
    saver.start()
    try:
        assert in_window.wait(30)
        env = python_env()
        cli = subprocess.Popen([sys.executable, "-m", "newsletter", "--project", str(project), "approve",
                                DAY.isoformat(), "--by", "Alex"], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not _waiting_on_a_lock(cli.pid):
            assert cli.poll() is None, f"the approval did not wait for the save: {cli.communicate()}"
            assert time.monotonic() < deadline, "the approval never reached the lock"
            time.sleep(0.02)  # polling /proc/locks, bounded by the deadline above
    finally:
        go_on.set()
        saver.join(30)
    out, err = cli.communicate(timeout=60)
    assert cli.returncode == 0, err
    assert "Le texte du desk." in (issue_dir / item.name).read_text(encoding="utf-8")
    assert nl.approval(DAY).state == "current"  # it approved the files as the save left them


@pytest.mark.parametrize("target", ["item", "issue.yaml"])
def test_a_save_keeps_the_comments_and_the_order_of_the_keys(nl: Newsletter, issue_dir: Path, target: str) -> None:
    if target == "item":
        path = issue_dir / "01-bots.md"
        text = path.read_text(encoding="utf-8")
        text = text.replace('tag: "Études"', '# the section of the site\ntag: "Études"  # one word')
        text = text.replace('source: "Kantar TNS, Connected Life"', 'source: "Kantar TNS, Connected Life"  # vérifié')
        text = text.replace('---\ntitle:', '---\n# Checked with the author on Monday\ntitle:', 1)
        path.write_text(text, encoding="utf-8")
        item = nl.issues.read(DAY).item("01-bots.md")
        nl.issues.save_item(DAY, item.name, {**item.fields, "source": "Kantar, Connected Life 2026"}, item.body,
                            item.version, ME)
        kept = ["# Checked with the author on Monday", "# the section of the site", 'tag: "Études"  # one word']
        keys = ["title", "source", "url", "image", "image_alt", "tag"]
        new = 'source: "Kantar, Connected Life 2026"  # vérifié'
    else:
        path = issue_dir / "issue.yaml"
        text = "# Subject: under 60 characters\n" + path.read_text(encoding="utf-8").replace(
            "preheader:", "# what the inbox shows after the subject\npreheader:")
        path.write_text(text, encoding="utf-8")
        draft = nl.issues.read(DAY)
        nl.issues.save_fields(DAY, {**draft.fields, "subject": "Un nouvel objet"}, draft.version, ME)
        kept = ["# Subject: under 60 characters", "# what the inbox shows after the subject",
                '  Bonjour {{ first_name | default("à toutes et à tous") }}, voici vos 5 infos du jour.']
        keys = ["subject", "preheader", "intro"]
        new = 'subject: "Un nouvel objet"'
    saved = path.read_text(encoding="utf-8")
    lines = saved.split("\n")
    for line in kept:
        assert line in lines, saved
    assert new in lines, saved
    order = [line.split(":")[0] for line in lines if re.match(r"[a-z_]+:", line)]
    assert order == keys, saved
    assert nl.check(DAY).errors == 0


@pytest.mark.parametrize("part, mimetype, sign", [("html", "text/html", "<html"), ("txt", "text/plain", "1/5")])
def test_the_preview_parts_are_served_with_the_emails_own_policy(signed_in: Callable[[str], FlaskClient], part: str,
                                                                  mimetype: str, sign: str) -> None:
    response = signed_in("editor").get(f"/issues/{DAY.isoformat()}/preview.{part}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert sign in response.get_data(as_text=True)
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN" and response.headers["Content-Security-Policy"]


# -- symbolic links: the desk neither shows nor changes what a link points at ---------------------

MARKER = "NEWSLETTER_SECRET_KEY=planted-in-the-environment"


def _plant(issue_dir: Path, planted: str) -> str:
    """A link planted in the issue folder; returns the name the refusal must give."""
    elsewhere = issue_dir.parent.parent / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    secret = elsewhere / "secret.md"
    secret.write_text(f'---\ntitle: "{MARKER}"\nsource: "{MARKER}"\n---\n{MARKER}\n', encoding="utf-8")
    if planted == "item to /proc/self/environ":
        (issue_dir / "06-leak.md").symlink_to("/proc/self/environ")
        return "06-leak.md"
    if planted == "item to the database":
        (issue_dir / "06-leak.md").symlink_to("../../state/newsletter.db")
        return "06-leak.md"
    if planted == "item to a readable item":
        (issue_dir / "01-bots.md").unlink()
        (issue_dir / "01-bots.md").symlink_to(secret)
        return "01-bots.md"
    if planted == "issue.yaml":
        (elsewhere / "issue.yaml").write_text(f'subject: "{MARKER}"\npreheader: "{MARKER}"\n', encoding="utf-8")
        (issue_dir / "issue.yaml").unlink()
        (issue_dir / "issue.yaml").symlink_to(elsewhere / "issue.yaml")
        return "issue.yaml"
    if planted == "images folder":
        shutil.rmtree(issue_dir / "images")
        (issue_dir / "images").symlink_to(elsewhere)
        return "images"
    raise AssertionError(planted)


PLANTED = ["item to /proc/self/environ", "item to the database", "item to a readable item", "issue.yaml",
           "images folder"]


@pytest.mark.parametrize("planted", PLANTED)
def test_the_desk_refuses_an_issue_folder_holding_a_link_naming_it_and_shows_nothing_of_it(
        signed_in: Callable[[str], FlaskClient], issue_dir: Path, monkeypatch: pytest.MonkeyPatch,
        planted: str) -> None:
    monkeypatch.setenv("NEWSLETTER_PLANTED", MARKER)  # what /proc/self/environ would give away
    client = signed_in("editor")
    name = _plant(issue_dir, planted)
    url = f"/issues/{DAY.isoformat()}"
    for path in (url, f"{url}/preview.html", f"{url}/preview.txt"):
        response = client.get(path)
        text = response.get_data(as_text=True)
        assert response.status_code == 409, (path, text[:300])
        assert "lien symbolique" in text and name in text, text
        assert MARKER not in text and "argon2" not in text and "<textarea" not in text
    assert client.get(f"{url}/assets/images/secret.md").status_code == 404


@pytest.mark.parametrize("planted", PLANTED)
def test_no_write_goes_through_a_link_and_nothing_is_read_from_one(nl: Newsletter, issue_dir: Path,
                                                                   planted: str) -> None:
    draft = nl.issues.read(DAY)
    item = draft.items[1]
    name = _plant(issue_dir, planted)
    elsewhere = issue_dir.parent.parent / "elsewhere"
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir()}
    with pytest.raises(ContentError, match=f"symbolic link.*{re.escape(name)}"):
        nl.issues.read(DAY)
    with pytest.raises(ContentError, match="symbolic link"):
        nl.issues.preview(DAY, asset_base="/assets/")
    assert nl.issues.image(DAY, "images/barres.png") is None
    for write in (lambda: nl.issues.save_fields(DAY, {"subject": "x", "preheader": "y"}, draft.version, ME),
                  lambda: nl.issues.save_item(DAY, item.name, item.fields, "Un texte.", item.version, ME),
                  lambda: nl.issues.add_item(DAY, ME),
                  lambda: nl.issues.move_item(DAY, item.name, 1, ME),
                  lambda: nl.issues.remove_item(DAY, item.name, item.version, ME),
                  lambda: nl.issues.attach_image(DAY, item.name, "x.png", PNG, "Un graphique", item.version, ME)):
        with pytest.raises(ContentError, match="symbolic link"):
            write()
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before


def test_an_issue_folder_that_is_itself_a_link_is_refused(nl: Newsletter, issue_dir: Path,
                                                           signed_in: Callable[[str], FlaskClient]) -> None:
    moved = issue_dir.parent / "moved"
    issue_dir.rename(moved)
    issue_dir.symlink_to(moved)
    assert nl.issues.exists(DAY)
    with pytest.raises(ContentError, match=f"symbolic link.*{DAY.isoformat()}"):
        nl.issues.read(DAY)
    response = signed_in("editor").get(f"/issues/{DAY.isoformat()}")
    assert response.status_code == 409 and "<textarea" not in response.get_data(as_text=True)


def test_an_upload_never_lands_in_the_folder_images_links_to(signed_in: Callable[[str], FlaskClient],
                                                              issue_dir: Path) -> None:
    client = signed_in("editor")
    url = f"/issues/{DAY.isoformat()}"
    name = sorted(p.name for p in issue_dir.glob("*.md"))[1]
    form = form_of(client.get(url).get_data(as_text=True), f"{url}/items/{name}/image")
    _plant(issue_dir, "images folder")
    import io

    response = client.post(f"{url}/items/{name}/image", content_type="multipart/form-data",
                           data={**form, "alt": "Un graphique", "file": (io.BytesIO(PNG), "chart.png")})
    assert response.status_code == 302
    assert sorted(p.name for p in (issue_dir.parent.parent / "elsewhere").iterdir()) == ["secret.md"]
    page = client.get(url).get_data(as_text=True)
    assert "lien symbolique" in page and "images" in page


# -- malformed addresses: a 4xx, never a 500 -----------------------------------------------------

@pytest.mark.parametrize("path", ["assets/images/barres.png%00.png", "assets/images%00/barres.png",
                                  "assets/images/" + "a" * 300 + ".png"])
def test_a_malformed_asset_path_is_a_404(signed_in: Callable[[str], FlaskClient], path: str,
                                         caplog: pytest.LogCaptureFixture) -> None:
    response = signed_in("editor").get(f"/issues/{DAY.isoformat()}/{path}")
    assert response.status_code == 404 and "desk request failed" not in caplog.text


@pytest.mark.parametrize("name", ["01-" + "a" * 300 + ".md", "01-" + "é" * 150 + ".md", "01-bots%00.md"])
@pytest.mark.parametrize("action", ["", "/remove", "/move", "/image"])
def test_a_malformed_item_name_is_refused_without_a_500(signed_in: Callable[[str], FlaskClient], issue_dir: Path,
                                                        name: str, action: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    import io

    client = signed_in("editor")
    url = f"/issues/{DAY.isoformat()}"
    form = {"csrf_token": csrf_token(client, url), "version": "", "title": "x", "direction": "up", "alt": "Un graphique",
            **({"file": (io.BytesIO(PNG), "chart.png")} if action == "/image" else {})}
    before = sorted(p.name for p in issue_dir.rglob("*"))
    response = client.post(f"{url}/items/{name}{action}", data=form, content_type="multipart/form-data")
    assert response.status_code == 404, response.get_data(as_text=True)[-500:]
    assert "desk request failed" not in caplog.text
    assert sorted(p.name for p in issue_dir.rglob("*")) == before


def test_the_no_break_spaces_an_editor_types_are_kept(nl: Newsletter, issue_dir: Path) -> None:
    """A one-line field ran every space together, no-break ones included: « Big Data » lost its ties."""
    draft = nl.issues.read(DAY)
    value = "Le\u00a0«\u00a0Big Data\u00a0»\u202f: 3\u2009V  et\tplus"
    nl.issues.save_issue(DAY, {"subject": value}, draft.version, {}, ME)
    assert nl.issues.read(DAY).fields["subject"] == "Le\u00a0«\u00a0Big Data\u00a0»\u202f: 3\u2009V et plus"
