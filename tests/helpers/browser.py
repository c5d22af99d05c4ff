"""Headless Chromium for the tests that look at pages."""

from __future__ import annotations

import re
import shutil
from typing import Any


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]

WAIT = 15_000  # ms: the longest any step of a browser test may take


def desk_sign_in(page: Any, url: str, name: str) -> None:
    """Sign ``name`` in to the desk at ``url`` through its form, as a person does."""
    from tests.helpers.desk import PASSWORD

    page.goto(url + "/")  # anonymous: sent to the sign-in page
    page.wait_for_url(re.compile(r".*/login\?next=.*"), timeout=WAIT)
    page.get_by_label("Nom du compte").fill(name)
    page.get_by_label("Mot de passe").fill(PASSWORD)
    page.get_by_role("button", name="Connexion").click()
    page.wait_for_url(url + "/", timeout=WAIT)
