"""A problem found in an issue: where it is, what is wrong, how bad it is.

A problem keeps its sentence as an English *template* with ``%(name)s`` placeholders and the values
that fill them: the command line prints :attr:`Problem.message` (English, as the catalogs' msgids
are), the desk shows :meth:`Problem.text` in the newsletter's language, beside the field the problem
concerns (:attr:`Problem.field`) and naming it by the page's label. Templates are marked with
:func:`newsletter.core.i18n.N_` so that ``make messages`` gathers them (``keywords = N_`` in babel.cfg).
"""

from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
from pathlib import Path
from typing import Any, Literal, Mapping

from newsletter.core.i18n import N_, Gettext, fill

__all__ = ["N_", "Problem", "Severity", "errors"]

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Problem:
    """One finding of ``check``, printed as ``file:line: message``.

    ``line`` is 1-based; ``None`` means the problem concerns the whole file or folder.
    Warnings (e.g. raw HTML that was sanitized) are reported but do not fail the check.
    ``template`` is filled from ``values`` (write a literal ``%`` as ``%%`` when there are values).
    ``field`` is the key of the field at fault (``title``, ``subject``, ``body``…; "" when none alone is);
    ``said`` is the sentence for a page that shows that field by its label: ``template`` without the file's
    syntax (no ``key: "…"`` example), "" when ``template`` reads well there.
    """

    path: Path
    line: int | None
    template: str
    severity: Severity = "error"
    values: Mapping[str, Any] = dataclass_field(default_factory=dict, compare=False)
    field: str = dataclass_field(default="", compare=False)
    said: str = dataclass_field(default="", compare=False)
    message: str = dataclass_field(init=False)  # the sentence in English: what the command line prints

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", fill(self.template, self.values))

    def text(self, gettext: Gettext, labels: Mapping[str, str] | None = None) -> str:
        """The sentence in the language of ``gettext`` (values that are :class:`Translatable` too).

        With ``labels`` (field key → the label a page shows it by), a problem of a labelled field is said
        as that page's reader sees it: :attr:`said` if any, and the value naming the field (its key, as
        ``'%(name)s'`` shows it to the command line) replaced by the label."""
        label = (labels or {}).get(self.field) if self.field else None
        if not label:
            return fill(self.template, self.values, gettext)
        values = {name: label if value == self.field else value for name, value in self.values.items()}
        return fill(self.said or self.template, values, gettext)

    def location(self, root: Path | None = None) -> str:
        path = self.path
        if root is not None:
            try:
                path = self.path.relative_to(root)
            except ValueError:
                pass
        return f"{path}:{self.line}" if self.line else str(path)

    def format(self, root: Path | None = None) -> str:
        label = "warning: " if self.severity == "warning" else ""
        return f"{self.location(root)}: {label}{self.message}"


def errors(problems: list[Problem]) -> list[Problem]:
    """Only the problems that block the issue."""
    return [p for p in problems if p.severity == "error"]
