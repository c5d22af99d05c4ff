"""Change the ``[brand]`` keys of ``newsletter.toml`` in place, for the desk's brand settings page.

The file stays the operator's: tomlkit rewrites only the ``[brand]`` keys that change, keeping every
other table, comment and blank line, and the comment after a key it rewrites. A change is refused
whole, nothing written, when a value would not load (the same rules as :func:`newsletter.config.parse_brand`),
when ``check`` would refuse it (contrast under WCAG AA, a logo without alt text), or when the file
changed since the form was shown (``based_on``, the SHA-256 of the bytes the form was made from).
The new file is written beside the old one and renamed over it, so a reader sees one or the other.
Neither ``newsletter.toml`` nor ``brand/`` may be a symbolic link or hold one (the project's rule for
files, :mod:`newsletter.core.atomic`): the form is refused rather than read or written through a link.
"""

from __future__ import annotations

import hashlib
import threading
import tomllib
from dataclasses import replace
from pathlib import Path
from typing import Any, Mapping

import tomlkit
from tomlkit.exceptions import TOMLKitError

from newsletter.brand.look import contrast_problems
from newsletter.config import (BRAND_KEYS, CONFIG_FILE, LOGO_MAX_BYTES, BrandSettings, Settings, load_settings,
                               parse_brand)
from newsletter.errors import BrandConflictError, ConfigError, LinkedBrandError, LogoRefusedError, NewsletterError
from newsletter.core.atomic import links, locked, read_inside, write_atomically
from newsletter.core.i18n import N_, Message, Quoted

_WRITING = threading.Lock()


def _config_bytes(root: Path) -> bytes:
    """``newsletter.toml`` as it is now, once neither it nor ``brand/`` is or holds a link.

    :raises LinkedBrandError: naming the links.
    """
    found = [path for path in (root / CONFIG_FILE,) if path.is_symlink()] + links(root / LOGO_FOLDER)
    if found:
        raise LinkedBrandError(N_("%(links)s: a symbolic link, through which the desk neither shows nor changes the "
                                  "brand; replace it by the file or folder itself"),
                               values={"links": ", ".join(path.relative_to(root).as_posix() for path in found)})
    try:
        return read_inside(root, CONFIG_FILE)
    except OSError as err:
        raise ConfigError(f"{CONFIG_FILE} cannot be read: {err.strerror}") from err


def version(root: Path) -> str:
    """The SHA-256 (hex) of ``newsletter.toml`` as it is now: what a form is based on."""
    return hashlib.sha256(_config_bytes(root)).hexdigest()


def written_values(root: Path) -> dict[str, str]:
    """The ``[brand]`` keys as the file writes them (empty for a key left out), for a form."""
    data = tomllib.loads(_config_bytes(root).decode("utf-8-sig"))
    found = data.get("brand")
    table: dict[str, Any] = found if isinstance(found, dict) else {}
    return {key: "" if table.get(key) is None else str(table.get(key)) for key in BRAND_KEYS}


def _typed(key: str, value: str) -> Any:
    """A form's text as the TOML value the key takes (``logo_width`` is a whole number)."""
    if key == "logo_width":
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"{CONFIG_FILE}: [brand] logo_width must be a whole number of pixels, e.g. 180 "
                              f"(got {value!r})") from None
    return value


def update_brand(settings: Settings, values: Mapping[str, str], *, based_on: str) -> Settings:
    """Write ``values`` (key → text; an empty text removes the key) into ``[brand]`` and return the
    settings as they now load. Keys not in ``values`` are left as they are.

    :raises BrandConflictError: when the file is no longer the one of ``based_on``.
    :raises ConfigError: naming the key and the fix, when a value is refused; nothing is written.
    """
    unknown = sorted(set(values) - set(BRAND_KEYS))
    if unknown:
        raise ConfigError(f"{CONFIG_FILE}: [brand] has no key {unknown[0]!r}; known keys: {', '.join(BRAND_KEYS)}")
    root = settings.root
    path = root / CONFIG_FILE
    with _WRITING, locked(root):  # the version check and the rename together, across processes too
        raw = _config_bytes(root)
        if hashlib.sha256(raw).hexdigest() != based_on:
            raise BrandConflictError(f"{CONFIG_FILE} was changed by someone else since this form was opened; "
                                     "nothing was saved", hint="reload the page to see the current values, "
                                     "then make your change again")
        try:
            document = tomlkit.parse(raw.decode("utf-8-sig"))
        except (TOMLKitError, UnicodeDecodeError) as err:
            raise ConfigError(f"{CONFIG_FILE} cannot be read ({err}); fix the file by hand first") from err
        if "brand" not in document:
            document.add(tomlkit.nl())
            document.add("brand", tomlkit.table())
        table: Any = document["brand"]
        for key, text in values.items():
            text = text.strip()
            if not text:
                table.pop(key, None)
                continue
            old = table.item(key) if key in table else None
            table[key] = _typed(key, text)
            if old is not None and old.trivia.comment:
                table.item(key).trivia.comment_ws = old.trivia.comment_ws
                table.item(key).trivia.comment = old.trivia.comment
        text = tomlkit.dumps(document)
        brand = parse_brand(path, tomllib.loads(text).get("brand", {}), root)
        _refuse_what_check_refuses(settings, brand)
        write_atomically(path, text.encode("utf-8"))
    return load_settings(root)


def _refuse_what_check_refuses(settings: Settings, brand: BrandSettings) -> None:
    found = contrast_problems(replace(settings, brand=brand))
    if found:
        raise ConfigError(N_("%(file)s: %(problem)s"),
                          values={"file": CONFIG_FILE, "problem": Message(found[0].TEMPLATE, found[0].values())})
    if brand.logo and not brand.logo_alt:
        raise ConfigError(N_("%(file)s: [brand] logo needs logo_alt, the text readers get when images are blocked or "
                             "read aloud; write what the logo says, e.g. %(name)s"),
                          values={"file": CONFIG_FILE, "name": Quoted(settings.newsletter.name)})


#: What an uploaded logo may be, by its first bytes (never by its name): the types every mail client shows.
_LOGO_KINDS = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"), (b"GIF87a", "gif"), (b"GIF89a", "gif"))
LOGO_FOLDER = "brand"


def _logo_kind(data: bytes) -> str:
    """The file extension the bytes call for; :class:`LogoRefusedError` when they are not a PNG, JPEG or GIF.

    SVG is refused, not sanitized: Gmail and Outlook do not show SVG in emails, and an SVG can carry
    scripts and outside references. WebP is refused too: Outlook for Windows does not show it.
    """
    for magic, kind in _LOGO_KINDS:
        if data.startswith(magic):
            return kind
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"<svg", b"<?xml")) or b"<svg" in head:
        raise LogoRefusedError(N_("the logo is an SVG drawing, which Gmail and Outlook do not show in emails; "
                                  "export it as PNG"))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        raise LogoRefusedError(N_("the logo is a WebP image, which Outlook does not show; export it as PNG"))
    raise LogoRefusedError(N_("the file is not a PNG, JPEG or GIF image (its content says otherwise); "
                              "export it as PNG"))


def store_logo(settings: Settings, data: bytes, alt: str, *, based_on: str) -> Settings:
    """Keep an uploaded logo in the project (``brand/logo-<digest>.<ext>``) and point ``[brand] logo`` at it,
    with ``logo_alt``, in one change of ``newsletter.toml``: the file is in place before the setting names
    it, and removed again when the setting is refused. The type is read from the bytes.

    :raises LogoRefusedError: for a file that is not a PNG, JPEG or GIF, too large, or without alt text.
    :raises BrandConflictError: when ``newsletter.toml`` changed since ``based_on``.
    """
    alt = " ".join(alt.split())
    if not alt:
        raise LogoRefusedError(N_("a logo needs a description (alt text): what the logo says, for readers whose "
                                  "mail client blocks images"))
    if len(data) > LOGO_MAX_BYTES:
        raise LogoRefusedError(N_("the logo weighs %(size)d KB; every message loads it, so keep it under "
                                  "%(limit)d KB"), values={"size": len(data) // 1024, "limit": LOGO_MAX_BYTES // 1024})
    kind = _logo_kind(data)
    _config_bytes(settings.root)  # no link where the logo goes
    folder = settings.root / LOGO_FOLDER
    folder.mkdir(exist_ok=True)
    relative = f"{LOGO_FOLDER}/logo-{hashlib.sha256(data).hexdigest()[:12]}.{kind}"
    target = settings.root / relative
    existed = target.exists()
    if not existed:
        write_atomically(target, data)
    try:
        return update_brand(settings, {"logo": relative, "logo_alt": alt}, based_on=based_on)
    except NewsletterError:
        if not existed:
            target.unlink(missing_ok=True)
        raise
