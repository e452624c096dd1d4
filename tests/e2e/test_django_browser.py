"""The Django app's phone login in a real, headless Chromium, in Russian and in English.

A fresh ``django-admin startproject`` made of the README's snippets is served by ``manage.py
runserver``; a ``celery -A worker worker`` process sends through the sandbox gateway; the browser
reads nothing but the pages, and the code comes from the sandbox outbox as a phone would show
it. Each page is saved as a screenshot under ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_pages import page_gone
from helpers import Sandbox, WorkerProcess, make_settings, wait_until
from served import Served, django_project, manage

from worker.dev.devstack import free_port
from worker.settings import Settings

pytest.importorskip("django", reason="django is in the dev extra")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
COOLDOWN = 5  # seconds before the page lets the user ask for a new code


@dataclass(frozen=True)
class Language:
    accept: str  # what the browser is set to, and so sends as Accept-Language
    lang: str  # <html lang>
    title: str
    invalid_phone: str
    sent: str
    wrong: str
    typed: str  # the number as a person of that language types it
    phone: str  # the E.164 number the user is logged in as


RUSSIAN = Language(
    accept="ru",
    lang="ru",
    title="Вход по номеру телефона",
    invalid_phone="Проверьте номер телефона.",
    sent="Мы отправили код в SMS.",
    wrong="Неверный код.",
    typed="8 (900) 123-45-67",
    phone="+79001234567",
)
ENGLISH = Language(
    accept="en-US",
    lang="en",
    title="Sign in with your phone",
    invalid_phone="Check the phone number.",
    sent="We sent you a code by SMS.",
    wrong="Wrong code.",
    typed="+7 900 765-43-21",
    phone="+79007654321",
)


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} not found (scripts/install-browser installs chromium, chromium-driver)"
    return None


class Browser:
    """A headless Chromium, the URLs it saw and the screenshots of one test."""

    def __init__(self, driver: WebDriver, base_url: str, shots: Path) -> None:
        self.driver, self.base_url, self.shots = driver, base_url, shots
        self.n = 0
        self.urls: list[str] = []

    def open(self, path: str) -> None:
        self.driver.get(self.base_url + path)
        self.urls.append(self.driver.current_url)

    def shot(self, name: str) -> None:
        self.n += 1
        self.shots.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(self.shots / f"{self.n:02d}-{name}.png"))

    def find(self, css: str) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def has(self, css: str) -> bool:
        return bool(self.driver.find_elements(By.CSS_SELECTOR, css))

    def script_errors(self) -> list[str]:
        """What the pages' scripts reported as errors (a missing favicon aside)."""
        entries = self.driver.get_log("browser")
        return [
            e["message"]
            for e in entries
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
        ]

    def submit(self, button_css: str, then: str) -> None:
        """Click a submit button and wait for the next page to show ``then``."""
        old = self.find("html")
        self.find(button_css).click()
        wait_until(lambda: page_gone(old), 20, f"the page after {button_css}")
        wait_until(lambda: self.has(then), 20, f"{then} on {self.driver.current_url}")
        self.urls.append(self.driver.current_url)


@dataclass
class Site:
    url: str
    project: Path
    env: dict[str, str]
    served: Served


@pytest.fixture
def site(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    serve: Callable[..., Served],
    tmp_path: Path,
) -> Site:
    """The README's Django project, migrated and served, with a worker sending its codes."""
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {missing}")
        pytest.skip(missing)
    project = django_project(tmp_path)
    settings: Settings = make_settings(redis_url, sandbox, OTP_RESEND_COOLDOWN_SECONDS=COOLDOWN)
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("OTP_", "TARGETSMS_"))}
    env = {**bare, **settings.to_env(), "PYTHONUNBUFFERED": "1"}
    migrated = manage(project, env, "migrate", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    start_worker(settings, concurrency=2)
    port = free_port()
    served = serve(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=project, env=env, url=f"http://127.0.0.1:{port}", probe="/auth/phone/",
    )  # fmt: skip
    return Site(served.url, project, env, served)


@pytest.fixture
def open_browser(request: pytest.FixtureRequest) -> Iterator[Callable[[Site, str], Browser]]:
    drivers: list[WebDriver] = []
    profiles: list[str] = []
    shots = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(shots, ignore_errors=True)

    def start(site: Site, accept: str) -> Browser:
        profile = tempfile.mkdtemp(prefix="chromium-")
        profiles.append(profile)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=800,900",
            f"--user-data-dir={profile}",
            f"--lang={accept}",
        ):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {"intl.accept_languages": accept})
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        drivers.append(driver)
        return Browser(driver, site.url, shots)

    yield start
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


def session_user(site: Site, session_key: str) -> str:
    """The username Django's own session store gives this browser's session."""
    script = (
        "from django.contrib.auth import get_user_model;"
        "from django.contrib.sessions.backends.db import SessionStore;"
        f"s = SessionStore(session_key={session_key!r});"
        "print(get_user_model().objects.get(pk=s['_auth_user_id']).get_username())"
    )
    found = manage(site.project, site.env, "shell", "-v", "0", "-c", script)
    assert found.returncode == 0, found.stderr
    return found.stdout.strip()


@pytest.mark.parametrize("language", [RUSSIAN, ENGLISH], ids=lambda language: language.accept)
def test_phone_login_in_a_browser(
    language: Language,
    site: Site,
    sandbox: Sandbox,
    open_browser: Callable[[Site, str], Browser],
) -> None:
    browser = open_browser(site, language.accept)
    browser.open("/auth/phone/")
    assert browser.find("html").get_attribute("lang") == language.lang
    assert browser.find("h1").text == language.title
    browser.shot("phone-form")

    browser.find("input[name=phone]").send_keys("12345")
    browser.submit("button[type=submit]", then="p.error")
    assert browser.find("p.error").text == language.invalid_phone
    phone_input = browser.find("input[name=phone]")
    assert phone_input.get_attribute("value") == "12345", "the refused number is kept to fix"
    browser.shot("invalid-phone")

    phone_input.clear()
    phone_input.send_keys(language.typed)
    browser.submit("#phone-form button[type=submit]", then="#code-form")
    assert browser.find("p.sent").text == language.sent
    code_input = browser.find("input[name=code]")
    assert code_input.get_attribute("autocomplete") == "one-time-code"
    assert code_input.get_attribute("inputmode") == "numeric"
    # The resend countdown: the button waits for the cooldown, then the script enables it.
    assert not browser.find("#resend").is_enabled()
    assert browser.find("#countdown").is_displayed()
    browser.shot("code-form")

    wait_until(lambda: sandbox.outbox(language.phone), 30, "the SMS to reach the sandbox")
    code = sandbox.last_code(language.phone)
    wrong = "0" * len(code) if code != "0" * len(code) else "1" * len(code)
    browser.find("input[name=code]").send_keys(wrong)
    browser.submit("#code-form button[type=submit]", then="p.error")
    assert browser.find("p.error").text == language.wrong
    assert browser.has("#code-form"), "a wrong code leaves the user on the code page"
    assert browser.driver.get_cookie("sessionid") is not None
    browser.shot("wrong-code")

    wait_until(lambda: browser.find("#resend").is_enabled(), COOLDOWN + 10, "the resend button")
    assert not browser.find("#countdown").is_displayed()
    assert browser.script_errors() == []
    browser.shot("resend-enabled")

    browser.find("input[name=code]").send_keys(code)
    # LOGIN_REDIRECT is /admin/ (the README's settings): for a user who is not staff the admin
    # says who is logged in.
    browser.submit("#code-form button[type=submit]", then="p.errornote")
    assert f"You are authenticated as {language.phone}," in browser.find("p.errornote").text
    browser.shot("logged-in")

    cookie = browser.driver.get_cookie("sessionid")
    assert cookie is not None and cookie["httpOnly"] is True
    assert session_user(site, cookie["value"]) == language.phone
    with sqlite3.connect(site.project / "db.sqlite3") as db:
        users = db.execute("select username from auth_user").fetchall()
    assert users == [(language.phone,)]

    # Neither the number nor a code in any URL the browser saw or in the server's log.
    log = site.served.output()
    assert "POST /auth/phone/code/" in log, "the server's request log was read"
    for secret in (language.phone.lstrip("+"), code, wrong):
        assert not any(secret in url for url in browser.urls)
        assert not re.search(rf"(?<!\d){secret}(?!\d)", log)
