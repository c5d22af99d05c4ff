"""What an issue puts on the web, and which of its files may ever leave the issue folder.

- An image is published only when it is a regular file inside its issue folder, reached
  without any symbolic link, whose first bytes are those of a PNG, JPEG or GIF
  (:func:`read_image`). ``check``, ``build``, rendering and ``serve`` all go through it, so a
  link to the subscriber database or ``/etc/passwd`` dressed as ``images/x.png`` goes nowhere.
- Image URLs are content-hashed (``base_url/assets/DATE/<sha256>.png``): ``serve`` answers
  them for every issue on disk from the moment it exists, so test copies show their images,
  while nobody can guess one without already having the file's bytes.
- The web version has a public address (``base_url/archive/DATE/``, 404 until the issue is
  sent) and a proofreading address carrying a key derived from ``NEWSLETTER_SECRET_KEY``
  (:func:`proof_url`), which test copies and ``build`` use before publication.
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import os
import stat
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path, PurePosixPath

from newsletter.content.load import LINK_PROBLEM
from newsletter.content.problems import N_, Problem
from newsletter.core.i18n import Quoted
from newsletter.errors import UnsafeFileError
from newsletter.core.atomic import links

#: First bytes of each image type mail clients show, and its canonical extension and media type.
IMAGE_KINDS = {
    "png": ((b"\x89PNG\r\n\x1a\n",), "png", "image/png"),
    "jpeg": ((b"\xff\xd8\xff",), "jpg", "image/jpeg"),
    "gif": ((b"GIF87a", b"GIF89a"), "gif", "image/gif"),
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")
#: Larger files are never published (``check`` already warns above 1 MB).
MAX_IMAGE_BYTES = 10 * 1024 * 1024
DIGEST_CHARS = 32  # 128 bits of SHA-256: unguessable, and short enough for a URL
PROOF_PARAM = "cle"


@dataclass(frozen=True)
class Image:
    """An image file of an issue, read once and checked."""

    relative: str  # normalized: ``images/chart.png``
    data: bytes
    kind: str

    @property
    def digest(self) -> str:
        """The first 128 bits of the SHA-256 of the bytes, in hex."""
        return hashlib.sha256(self.data).hexdigest()[:DIGEST_CHARS]

    @property
    def name(self) -> str:
        """``<digest>.<ext>``: the file's name in its content-hashed URL."""
        return f"{self.digest}.{IMAGE_KINDS[self.kind][1]}"

    @property
    def media_type(self) -> str:
        """The ``Content-Type`` the image is served with."""
        return IMAGE_KINDS[self.kind][2]


def sniff(data: bytes) -> str | None:
    """The image type the bytes start with (``png``, ``jpeg``, ``gif``), or None."""
    for kind, (magics, _, _) in IMAGE_KINDS.items():
        if data.startswith(magics):
            return kind
    return None


def read_image(folder: Path, relative: str) -> Image:
    """Read ``relative`` (e.g. ``images/chart.png``) from the issue ``folder``, refusing anything unsafe.

    No component may be a symbolic link or ``..``; the file must be a regular file with an
    image extension whose bytes are a PNG, JPEG or GIF, of at most :data:`MAX_IMAGE_BYTES`.

    :raises UnsafeFileError: saying what is wrong, for the editor.
    """
    parts = PurePosixPath(relative.replace("\\", "/")).parts
    if not parts or PurePosixPath(relative).is_absolute() or any(p in ("..", "") for p in parts) \
            or "\0" in relative:  # the operating system refuses it with a ValueError, not an answer
        raise UnsafeFileError(N_("%(file)s is not a path inside the issue folder"), values={"file": Quoted(relative)})
    parts = tuple(p for p in parts if p != ".")
    if not relative.lower().endswith(IMAGE_SUFFIXES):
        raise UnsafeFileError(N_("%(file)s is not a %(types)s file"),
                              values={"file": Quoted(relative), "types": ", ".join(IMAGE_SUFFIXES)})
    current = folder.resolve()
    for part in parts:
        current = current / part
        try:
            info = current.lstat()
        except OSError:
            raise UnsafeFileError(N_("%(file)s does not exist in %(folder)s/"),
                                  values={"file": Quoted(relative), "folder": folder.name}) from None
        if stat.S_ISLNK(info.st_mode):
            raise UnsafeFileError(N_("%(file)s goes through a symbolic link (%(link)s); put the file itself in "
                                     "the issue folder"), values={"file": Quoted(relative), "link": current.name})
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeFileError(N_("%(file)s is not a regular file"), values={"file": Quoted(relative)})
    try:
        fd = os.open(current, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise UnsafeFileError(N_("%(file)s is a symbolic link"), values={"file": Quoted(relative)}) from None
        raise UnsafeFileError(N_("%(file)s cannot be read: %(reason)s"),
                              values={"file": Quoted(relative), "reason": err.strerror}) from None
    with os.fdopen(fd, "rb") as file:
        opened = os.fstat(file.fileno())
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
            raise UnsafeFileError(N_("%(file)s changed while it was read; try again"), values={"file": Quoted(relative)})
        data = file.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise UnsafeFileError(N_("%(file)s is over %(limit)d MB"),
                              values={"file": Quoted(relative), "limit": MAX_IMAGE_BYTES // (1024 * 1024)})
    kind = sniff(data)
    if kind is None:
        raise UnsafeFileError(N_("%(file)s is not a PNG, JPEG or GIF image (its content says otherwise)"),
                              values={"file": Quoted(relative)})
    return Image("/".join(parts), data, kind)


def symlink_problems(folder: Path) -> list[Problem]:
    """One error per symbolic link inside an issue folder: nothing there may point elsewhere."""
    return [Problem(path, None, LINK_PROBLEM) for path in links(folder) if path != folder]


def asset_url(base_url: str, day: date, image: Image) -> str:
    """The content-hashed URL ``serve`` answers for ``image`` of the issue of ``day``."""
    return f"{base_url}/assets/{day.isoformat()}/{image.name}"


def _candidates(folder: Path) -> list[str]:
    """The paths (relative to ``folder``) of the files that may be images of the issue: image names
    outside hidden folders, never through a link; ``[]`` when the folder is missing or a link."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    found: list[str] = []
    for parent, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend((Path(parent) / file).relative_to(folder).as_posix() for file in sorted(files)
                     if not file.startswith(".") and file.lower().endswith(IMAGE_SUFFIXES))
    return found


#: What an issue folder's images are without reading them: each candidate's path and ``lstat`` figures.
Stamp = tuple[tuple[str, int, int, int, int, int], ...]


def _stamp(folder: Path) -> Stamp:
    figures = []
    for relative in _candidates(folder):
        try:
            info = (folder / relative).lstat()
        except OSError:
            continue
        figures.append((relative, info.st_mode, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns))
    return tuple(figures)


class ImageIndex:
    """The content-hashed names of each issue folder's images, read once for each state of the folder.

    A folder's index is kept with its :func:`_stamp` (paths, sizes, times and inodes of its image
    files, from ``lstat`` alone): while the stamp stays, a name the index lacks is answered without
    reading any file; when it changes (a file added, edited, replaced or removed) the images are read
    again. Every answer is still read through :func:`read_image` and compared with the name, so an
    edited, replaced or relinked file is never served under an old name.
    """

    LIMIT = 256  # folders kept

    def __init__(self) -> None:
        self._folders: dict[str, tuple[Stamp, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def find(self, folder: Path, name: str) -> Image | None:
        """The image of ``folder`` whose content-hashed name is ``name``, read and checked now; None if none."""
        key, stamp = str(folder), _stamp(folder)  # taken before the reads: a change during them shows next time
        with self._lock:
            kept = self._folders.get(key)
        if kept is None or kept[0] != stamp:
            names: dict[str, str] = {}
            for relative in (figures[0] for figures in stamp):
                try:
                    names.setdefault(read_image(folder, relative).name, relative)
                except UnsafeFileError:
                    continue
            kept = (stamp, names)
            with self._lock:
                if len(self._folders) >= self.LIMIT:
                    self._folders.clear()
                self._folders[key] = kept
        where = kept[1].get(name)
        if where is None:
            return None
        try:
            image = read_image(folder, where)
        except UnsafeFileError:
            return None
        return image if image.name == name else None


def web_url(base_url: str, day: date) -> str:
    """The public web version of the issue of ``day`` (served once the issue is sent)."""
    return f"{base_url}/archive/{day.isoformat()}/"


def proof_key(secret_key: str, day: date) -> str:
    """The key that opens the web version of ``day`` before it is sent (HMAC of the date)."""
    mac = hmac.new(secret_key.encode(), f"newsletter.web-proof\0{day.isoformat()}".encode(), hashlib.sha256)
    return mac.hexdigest()[:DIGEST_CHARS]


def proof_url(base_url: str, secret_key: str, day: date) -> str:
    """The web version's address for proofreaders: it works from the moment the issue exists."""
    return f"{web_url(base_url, day)}?{PROOF_PARAM}={proof_key(secret_key, day)}"


def is_proof_key(secret_key: str, day: date, key: str) -> bool:
    """Whether ``key`` opens the web version of ``day`` before its send (compared in constant time)."""
    return hmac.compare_digest(proof_key(secret_key, day), key)
