"""Every code input the project ships offers autofill: autocomplete="one-time-code" on the
input and the WebOTP API in the page's script (the Django pages and the example app; the
FastAPI router has no page, the README gives its snippet)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEBOTP = 'navigator.credentials.get({otp: {transport: ["sms"]}'


@pytest.mark.parametrize(
    ("page", "script"),
    [
        ("worker/integrations/django/templates/targetsms/code.html", None),
        ("examples/phone_login/templates/index.html", "examples/phone_login/static/phone_login.js"),
    ],
)
def test_the_code_input_autocompletes_and_the_page_asks_webotp(
    page: str, script: str | None
) -> None:
    html = (ROOT / page).read_text()
    code_input = next(line for line in html.splitlines() if 'id="code"' in line)
    assert 'autocomplete="one-time-code"' in code_input
    js = (ROOT / (script or page)).read_text()
    assert '"OTPCredential" in window' in js and WEBOTP in js


def test_the_readme_snippet_for_fastapi_pages_does_the_same() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### The SMS's language and autofill") :]
    assert 'autocomplete="one-time-code"' in section and WEBOTP in section
