"""Which files of an issue may be built, sent or served: regular image files inside the folder, no links."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Callable

import pytest

from newsletter.content.publication import Image, ImageIndex, _candidates, proof_url, read_image, symlink_problems
from newsletter.errors import UnsafeFileError

PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)
JPEG = b"\xff\xd8\xff\xe0" + bytes(64)
GIF = b"GIF89a" + bytes(64)

Setup = Callable[[Path], str]


def find_image(folder: Path, name: str) -> Image | None:
    """The image of the issue ``folder`` whose content-hashed name is ``name``, if it is safe to serve
    (what the web service's lookup through :class:`ImageIndex` finds, read the simple way)."""
    for relative in _candidates(folder):
        try:
            image = read_image(folder, relative)
        except UnsafeFileError:
            continue
        if image.name == name:
            return image
    return None


def _file(name: str, data: bytes) -> Setup:
    def setup(folder: Path) -> str:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
        return name
    return setup


def _link(name: str, target: str) -> Setup:
    def setup(folder: Path) -> str:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).symlink_to(target)
        return name
    return setup


def _linked_folder(folder: Path) -> str:
    elsewhere = folder.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "chart.png").write_bytes(PNG)
    (folder / "images").symlink_to(elsewhere)
    return "images/chart.png"


def _fifo(folder: Path) -> str:
    (folder / "images").mkdir()
    os.mkfifo(folder / "images" / "pipe.png")
    return "images/pipe.png"


REFUSED: list[tuple[str, Setup, str]] = [
    ("link to the database", _link("images/db.png", "../../state/newsletter.db"), "symbolic link"),
    ("link to /etc/passwd", _link("images/passwd.png", "/etc/passwd"), "symbolic link"),
    ("link to an image inside", lambda f: (_file("real.png", PNG)(f), _link("images/x.png", "../real.png")(f))[1],
     "symbolic link"),
    ("folder that is a link", _linked_folder, "symbolic link"),
    ("database named .png", _file("images/db.png", b"SQLite format 3\x00" + bytes(64)), "not a PNG, JPEG or GIF"),
    ("text named .png", _file("images/notes.png", b"---\ntitle: x\n"), "not a PNG, JPEG or GIF"),
    ("image with another extension", _file("images/chart.svg", PNG), "is not a .png"),
    ("parent folder", _file("../outside.png", PNG), "not a path inside"),
    ("absolute path", lambda f: "/etc/passwd.png", "not a path inside"),
    ("a folder", lambda f: (f / "images" / "d.png").mkdir(parents=True) or "images/d.png", "not a regular file"),
    ("a named pipe", _fifo, "not a regular file"),
    ("missing", lambda f: "images/none.png", "does not exist"),
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "issues" / "2026-11-24"
    path.mkdir(parents=True)
    return path


@pytest.mark.parametrize(("setup", "reason"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_unsafe_files_are_never_read(folder: Path, setup: Setup, reason: str) -> None:
    relative = setup(folder)
    with pytest.raises(UnsafeFileError, match=reason):
        read_image(folder, relative)


@pytest.mark.parametrize(("name", "data", "kind", "media_type"), [
    ("images/a.png", PNG, "png", "image/png"), ("./images/b.jpg", JPEG, "jpeg", "image/jpeg"),
    ("c.jpeg", JPEG, "jpeg", "image/jpeg"), ("images/d.gif", GIF, "gif", "image/gif"),
])
def test_real_images_are_read_and_named_by_their_bytes(folder: Path, name: str, data: bytes, kind: str,
                                                       media_type: str) -> None:
    _file(name, data)(folder)
    image = read_image(folder, name)
    assert (image.kind, image.media_type, image.data) == (kind, media_type, data)
    assert image.relative == name.removeprefix("./")
    assert find_image(folder, image.name) == image
    assert find_image(folder, "0" * 32 + ".png") is None


def test_a_link_is_never_found_by_its_hash(folder: Path, tmp_path: Path) -> None:
    _file("secret.png", PNG)(tmp_path)
    _link("images/leak.png", "../../../secret.png")(folder)
    assert (folder / "images" / "leak.png").read_bytes() == PNG  # the link works…
    name = read_image(tmp_path, "secret.png").name
    assert find_image(folder, name) is None  # …but is never served


def test_every_link_in_an_issue_folder_is_reported(folder: Path) -> None:
    _link("images/db.png", "../../state/newsletter.db")(folder)
    _link("01-item.md", "/etc/passwd")(folder)
    _file("images/ok.png", PNG)(folder)
    found = sorted(p.path.relative_to(folder).as_posix() for p in symlink_problems(folder))
    assert found == ["01-item.md", "images/db.png"]
    assert all(p.severity == "error" and "symbolic link" in p.message for p in symlink_problems(folder))


def test_the_proofreading_link_depends_on_the_key_and_the_date() -> None:
    day = date(2026, 11, 24)
    url = proof_url("https://news.example.org", "k1", day)
    assert url.startswith("https://news.example.org/archive/2026-11-24/?cle=")
    assert url == proof_url("https://news.example.org", "k1", day)
    assert url != proof_url("https://news.example.org", "k2", day)
    assert url.split("=")[1] != proof_url("https://news.example.org", "k1", date(2026, 11, 25)).split("=")[1]


def test_the_index_never_serves_a_file_under_an_old_name(folder: Path) -> None:
    index = ImageIndex()
    _file("images/a.png", PNG)(folder)
    first = read_image(folder, "images/a.png")
    assert index.find(folder, first.name) == first
    (folder / "images" / "a.png").write_bytes(PNG + b"edited")
    assert index.find(folder, first.name) is None
    (folder / "images" / "a.png").unlink()
    _link("images/a.png", "../../elsewhere.png")(folder)
    (folder.parent / "elsewhere.png").write_bytes(PNG)
    assert index.find(folder, first.name) is None


@pytest.mark.parametrize("relative", ["images/a.png\0.png", "images\0/a.png", "\0"])
def test_a_nul_byte_in_a_path_is_refused_like_any_unsafe_path(folder: Path, relative: str) -> None:
    _file("images/a.png", PNG)(folder)
    with pytest.raises(UnsafeFileError, match="not a path inside"):
        read_image(folder, relative)


def test_the_index_reads_an_issues_images_once_until_one_changes(folder: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import newsletter.content.publication as publication

    reads: list[str] = []
    real = publication.read_image

    def counted(where: Path, relative: str) -> object:
        reads.append(relative)
        return real(where, relative)

    monkeypatch.setattr(publication, "read_image", counted)
    for n in range(5):
        _file(f"images/{n}.png", PNG + bytes([n]))(folder)
    index = ImageIndex()
    first = real(folder, "images/0.png")
    assert index.find(folder, first.name) == first
    reads.clear()
    for _ in range(3):
        assert index.find(folder, "0" * 32 + ".png") is None  # a miss reads nothing
    assert reads == []
    assert index.find(folder, first.name) == first and reads == ["images/0.png"]  # a hit reads its one file
    _file("images/new.png", PNG + b"new")(folder)
    added = real(folder, "images/new.png")
    assert index.find(folder, added.name) == added  # a new file is found: the folder changed, it is read again
    (folder / "images" / "0.png").write_bytes(PNG + b"edited, same folder")
    assert index.find(folder, first.name) is None
    assert index.find(folder, real(folder, "images/0.png").name) is not None
