"""The project's rule for the files it reads: no symbolic link anywhere on the path, regular files only."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from newsletter.core.atomic import links, read_inside


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(b"secret")
    inside = tmp_path / "issue"
    (inside / "images").mkdir(parents=True)
    (inside / "images" / "a.png").write_bytes(b"image")
    return inside


def test_a_regular_file_is_read(folder: Path) -> None:
    assert read_inside(folder, "images/a.png") == b"image"
    assert links(folder) == []


@pytest.mark.parametrize("planted", ["file", "folder on the way"])
def test_a_link_anywhere_on_the_path_is_refused_and_found(folder: Path, planted: str) -> None:
    if planted == "file":
        link, relative = folder / "images" / "b.png", "images/b.png"
        link.symlink_to(folder.parent / "outside" / "secret.txt")
    else:
        link, relative = folder / "linked", "linked/secret.txt"
        link.symlink_to(folder.parent / "outside")
    with pytest.raises(OSError) as raised:
        read_inside(folder, relative)
    assert raised.value.errno in (errno.ELOOP, errno.ENOTDIR)
    assert links(folder) == [link]


@pytest.mark.parametrize("relative", ["images", "../outside/secret.txt", "/etc/passwd", "images/a.png\0.png", ""])
def test_what_is_not_a_regular_file_inside_the_folder_is_refused(folder: Path, relative: str) -> None:
    with pytest.raises(OSError) as raised:
        read_inside(folder, relative)
    assert raised.value.errno in (errno.EINVAL, errno.EISDIR)


def test_a_named_pipe_is_refused_without_blocking(folder: Path) -> None:
    os.mkfifo(folder / "pipe.md")
    with pytest.raises(OSError, match="not a regular file"):
        read_inside(folder, "pipe.md")


def test_a_folder_that_is_a_link_is_among_its_links(folder: Path) -> None:
    (folder / "images" / "b.png").symlink_to("a.png")
    alias = folder.parent / "alias"
    alias.symlink_to(folder)
    assert links(alias) == [alias, alias / "images" / "b.png"]
