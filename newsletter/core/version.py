"""The version of newsletter, in one place: ``pyproject.toml`` reads it from here when the package is
built (``[tool.hatch.version]``), and modules below the package root import it from here, since
importing ``newsletter`` itself would load the whole library (the root imports
:class:`~newsletter.Newsletter`) and tie them into an import circle. A literal, not the installed
metadata: reading that costs every command ``importlib.metadata`` and its imports at start-up."""

VERSION = "0.1.0"
