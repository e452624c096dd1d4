"""The example phone-login app (examples/phone_login) in a real, headless Chromium.

Everything is real: the app runs as its own process exactly as its README starts it, a
``celery -A worker worker`` process sends through the sandbox gateway, codes are read from the
sandbox outbox as a phone would, and the captcha provider is a loopback stand-in. Each page is
saved as a screenshot under ``test-artifacts/screenshots/``. The attacks on who logs in post
forms over plain HTTP (``FormClient``), as an attacker's script would, without a browser.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from browser_pages import page_gone
from captcha_standin import SECRET, StandIn, token
from helpers import Sandbox, WorkerProcess, make_settings, refused_port, wait_until

from worker.dev.devstack import free_port
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "examples" / "phone_login" / "app.py"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PHONE = "+79001234567"
TYPED_PHONE = "+7 (900) 123-45-67"  # as a person types it
ATTACKER = "+79161112233"  # a number the attacker holds, shown as +7916•••••33

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is in the dev extra")
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402


def _browser_missing() -> str | None:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} not found (scripts/install-browser installs chromium, chromium-driver)"
    return None


@pytest.fixture(scope="module")
def _browser_available(request: pytest.FixtureRequest) -> Iterator[None]:
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests must run in CI: {missing}")
        pytest.skip(missing)
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if capture is not None and SCREENSHOTS.is_dir():
        with capture.global_and_fixture_disabled():
            print(f"\nexample app screenshots: {SCREENSHOTS}")


# -- the pieces ---------------------------------------------------------------------------------


class Browser:
    """A headless Chromium plus the screenshot trail of one test."""

    def __init__(self, driver: WebDriver, base_url: str, shots: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self.shots = shots
        self.n = 0
        self.urls: list[str] = []

    def open(self, path: str = "/") -> None:
        self.driver.get(self.base_url + path)
        self.urls.append(self.driver.current_url)

    def shot(self, name: str) -> Path:
        self.n += 1
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{self.n:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.urls.append(self.driver.current_url)
        return path

    def find(self, css: str) -> Any:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def has(self, css: str) -> bool:
        return bool(self.driver.find_elements(By.CSS_SELECTOR, css))

    def wait_for(self, css: str, timeout: float = 20) -> Any:
        return wait_until(
            lambda: self.driver.find_elements(By.CSS_SELECTOR, css),
            timeout,
            f"element {css}",
        )[0]

    def submit(self, button_css: str, then: str) -> None:
        """Click a submit button and wait for the next page to show ``then``."""
        old = self.find("html")
        self.find(button_css).click()
        wait_until(lambda: page_gone(old), 20, f"page after {button_css}")
        self.wait_for(then)
        self.urls.append(self.driver.current_url)

    def solve_captcha(self, field: str, value: str) -> None:
        """What a captcha widget does once solved: a hidden token field in the phone form."""
        self.driver.execute_script(
            "const i = document.createElement('input'); i.type = 'hidden';"
            "i.name = arguments[0]; i.value = arguments[1];"
            "document.getElementById('phone-form').appendChild(i);",
            field,
            value,
        )

    def message(self) -> tuple[str, str]:
        el = self.find("#message")
        return str(el.get_attribute("data-key")), str(el.text)

    def stage(self) -> str:
        return str(self.find("#delivery-status").get_attribute("data-stage"))


class App:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
        self.proc = proc
        self.url = url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """The example app as its README starts it, with the test settings in its environment."""
    apps: list[App] = []

    def start(
        settings: Settings,
        *,
        wait: bool = True,
        dotenv: bool = False,
        extra: dict[str, str] | None = None,
    ) -> App:
        """``dotenv``: the settings go in ``.env`` in the app's working directory instead of
        its environment; ``extra`` is set in the environment either way."""
        port = free_port()
        log = tmp_path / f"app-{port}.log"
        own = settings.to_env()
        if dotenv:
            lines = [f"{k}={v}\n" for k, v in own.items() if "\n" not in v]
            (tmp_path / ".env").write_text("".join(lines), encoding="utf-8")
        bare = {k: v for k, v in os.environ.items() if k not in own}
        env = {**bare, **({} if dotenv else own), **(extra or {}), "PYTHONUNBUFFERED": "1"}
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, str(APP), "--host", "127.0.0.1", "--port", str(port)],
                cwd=tmp_path,  # no developer .env is read, only one a test writes here
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        app = App(proc, f"http://127.0.0.1:{port}", log)
        apps.append(app)

        def up() -> bool:
            try:
                return requests.get(app.url + "/", timeout=2).status_code == 200
            except requests.ConnectionError:
                return False

        if not wait:
            return app
        try:
            wait_until(up, 30, "the example app to answer", alive=[proc])
        except Exception:
            tail = app.output()[-3000:]
            raise AssertionError(f"the example app did not start:\n{tail}") from None
        return app

    yield start
    for app in apps:
        app.proc.terminate()
        try:
            app.proc.wait(10)
        except subprocess.TimeoutExpired:
            app.proc.kill()
            app.proc.wait(10)


@pytest.fixture
def open_browser(
    request: pytest.FixtureRequest, _browser_available: None
) -> Iterator[Callable[..., Browser]]:
    drivers: list[WebDriver] = []
    profiles: list[str] = []
    test_dir = SCREENSHOTS / re.sub(r"[^\w.-]+", "_", request.node.name)
    shutil.rmtree(test_dir, ignore_errors=True)

    def start(app: App, lang: str = "ru") -> Browser:
        profile = tempfile.mkdtemp(prefix="chromium-")
        profiles.append(profile)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        options.page_load_strategy = "eager"  # captcha scripts from the internet never load here
        for arg in (
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=800,900",
            f"--user-data-dir={profile}",
            f"--lang={lang}",
        ):
            options.add_argument(arg)
        options.add_experimental_option("prefs", {"intl.accept_languages": lang})
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        drivers.append(driver)
        return Browser(driver, app.url, test_dir if len(drivers) == 1 else test_dir / lang)

    yield start
    for driver in drivers:
        driver.quit()
    for profile in profiles:
        shutil.rmtree(profile, ignore_errors=True)


class FormClient:
    """The app's forms posted over HTTP with the page's CSRF token, redirects followed."""

    def __init__(self, app: App, settings: Settings) -> None:
        self.url = app.url
        self.http = requests.Session()
        self.sessions = redis.Redis.from_url(settings.redis_url, decode_responses=True)
        self.prefix = f"{settings.redis_prefix}example:session:"
        self.page = self._answer(self.http.get(self.url + "/", timeout=10))

    def post(self, path: str, **form: str) -> str:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', self.page)
        assert csrf, self.page
        data = {"csrf_token": csrf[1], "nonce": secrets.token_urlsafe(8), **form}
        self.page = self._answer(self.http.post(self.url + path, data=data, timeout=10))
        return self.page

    def session(self) -> dict[str, Any]:
        """What the app keeps for this client, read from its Redis as the app reads it."""
        raw = self.sessions.get(self.prefix + self.http.cookies["phone_login"])
        assert raw, "the app keeps a session for this client"
        data: dict[str, Any] = json.loads(raw)
        return data

    def message_key(self) -> str | None:
        found = re.search(r'id="message"[^>]*data-key="([^"]+)"', self.page)
        return found[1] if found else None

    @staticmethod
    def _answer(response: requests.Response) -> str:
        assert response.status_code == 200, response.text[-2000:]
        return response.text


def _own_code(attacker: FormClient, sandbox: Sandbox) -> str:
    """The attacker asks for a code for their own number and reads it off their phone."""
    attacker.post("/send", phone=ATTACKER)
    assert 'id="code-step"' in attacker.page
    wait_until(lambda: sandbox.outbox(ATTACKER), 20, "the attacker's SMS")
    return sandbox.last_code(ATTACKER)


@pytest.fixture
def captcha_stand_in() -> Iterator[StandIn]:
    with StandIn() as stand_in:
        yield stand_in


def _assert_no_secrets_leaked(app: App, browser: Browser, *secrets_: str) -> None:
    """No phone or code in any URL the browser saw or in the app's log."""
    digits = PHONE.lstrip("+")
    for url in browser.urls:
        assert digits not in url
        for s in secrets_:
            assert s not in url
    log = app.output()
    assert digits not in log and "123-45-67" not in log
    for s in secrets_:
        assert not re.search(rf"(?<!\d){s}(?!\d)", log)
    assert "POST /send" in log, "the app's request log was read"


def _log_in(browser: Browser, sandbox: Sandbox) -> str:
    browser.open("/")
    browser.find("input[name=phone]").send_keys(TYPED_PHONE)
    browser.submit("#send", then="#code-step")
    # The live status says "sent" once the record has the code: verifying can start then.
    wait_until(lambda: browser.stage() in ("sent", "delivered"), 20, "the sent status")
    return sandbox.last_code(PHONE)


# -- the tests -----------------------------------------------------------------------------------


def test_log_in_end_to_end_with_live_delivery_status(
    redis_url: str,
    sandbox_factory: Callable[..., Sandbox],
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
    open_browser: Callable[..., Browser],
) -> None:
    # Delivery is reported 1.5 s after the send, so the page is open before it happens.
    sandbox = sandbox_factory(deliver_after_ms=1500)
    settings = make_settings(redis_url, sandbox)
    start_worker(settings)
    app = start_app(settings)
    browser = open_browser(app)

    browser.open("/")
    assert browser.find("html").get_attribute("lang") == "ru"
    assert browser.find("h1").text == "Вход по номеру телефона"
    assert not browser.has("#captcha"), "CAPTCHA_MODE=off shows no widget"
    browser.shot("phone-form")
    browser.find("input[name=phone]").send_keys(TYPED_PHONE)
    browser.submit("#send", then="#code-step")

    code_input = browser.find("input[name=code]")
    assert code_input.get_attribute("inputmode") == "numeric"
    assert code_input.get_attribute("autocomplete") == "one-time-code"
    assert "+7900•••••67" in browser.find("#code-step").text
    first_stage = browser.stage()
    assert first_stage in ("sending", "sent")
    browser.shot("code-form")
    browser.driver.execute_script("window.sameDocument = true")

    # Live status: the page changes by itself, without a reload.
    wait_until(lambda: browser.stage() == "delivered", 30, "the delivered status")
    assert browser.driver.execute_script("return window.sameDocument") is True
    assert browser.find("#delivery-status").text == "SMS доставлено"
    browser.shot("delivered")

    code = sandbox.last_code(PHONE)
    browser.find("input[name=code]").send_keys(code)
    browser.submit("#verify", then="#logged-in")
    assert "+7900•••••67" in browser.find("#logged-in").text
    browser.shot("logged-in")

    cookie = browser.driver.get_cookie("phone_login")
    assert cookie is not None
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Lax"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie["value"]), "only an opaque session id"

    browser.open("/")
    assert browser.has("#logged-in"), "the session survives a new page load"
    browser.submit("#logout", then="#phone-step")
    assert browser.message() == ("logged_out", "Вы вышли из аккаунта.")
    assert not browser.has("#logged-in")
    browser.shot("logged-out")
    assert browser.driver.get_cookie("phone_login")["value"] != cookie["value"]

    _assert_no_secrets_leaked(app, browser, code)


def test_wrong_code_shows_attempts_left_then_right_code_logs_in(
    settings: Settings,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
    open_browser: Callable[..., Browser],
) -> None:
    start_worker(settings)
    app = start_app(settings)
    browser = open_browser(app)
    code = _log_in(browser, sandbox)
    wrong = "1" * len(code) if code != "1" * len(code) else "2" * len(code)

    browser.find("input[name=code]").send_keys(wrong)
    browser.submit("#verify", then="#message")
    key, text = browser.message()
    assert key == "wrong"
    assert text == f"Неверный код. Осталось попыток: {settings.codes.max_attempts - 1}."
    browser.shot("wrong-code")

    browser.find("input[name=code]").send_keys(code)
    browser.submit("#verify", then="#logged-in")
    browser.shot("logged-in")
    _assert_no_secrets_leaked(app, browser, code, wrong)


def test_too_many_wrong_codes_offer_a_new_code(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
    open_browser: Callable[..., Browser],
) -> None:
    settings = make_settings(redis_url, sandbox, OTP_MAX_ATTEMPTS=1)
    start_worker(settings)
    app = start_app(settings)
    browser = open_browser(app)
    code = _log_in(browser, sandbox)

    browser.find("input[name=code]").send_keys("0" * len(code) if code[0] != "0" else "9" * 6)
    browser.submit("#verify", then="#phone-step")
    assert browser.message() == (
        "locked",
        "Слишком много неверных попыток: этот код больше не действует.",
    )
    assert browser.find("input[name=phone]").get_attribute("value") == TYPED_PHONE
    browser.shot("locked-new-code")

    browser.submit("#send", then="#code-step")
    wait_until(lambda: len(sandbox.outbox(PHONE)) == 2, 20, "the new SMS")
    browser.find("input[name=code]").send_keys(sandbox.last_code(PHONE))
    browser.submit("#verify", then="#logged-in")


def test_resend_button_stays_disabled_until_the_cooldown_ends(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
    open_browser: Callable[..., Browser],
) -> None:
    settings = make_settings(redis_url, sandbox, OTP_RESEND_COOLDOWN_SECONDS=3)
    start_worker(settings)
    app = start_app(settings)
    browser = open_browser(app)
    first = _log_in(browser, sandbox)
    shown = time.monotonic()

    resend = browser.find("#resend")
    assert not resend.is_enabled()
    assert browser.find("#resend-wait").is_displayed()
    assert re.search(r"через 0:0[0-3]\.", browser.find("#resend-wait").text)
    browser.shot("resend-disabled")

    wait_until(lambda: browser.find("#resend").is_enabled(), 10, "the resend button")
    assert time.monotonic() - shown >= 1.5, "enabled only once the cooldown has run"
    assert not browser.find("#resend-wait").is_displayed()
    browser.shot("resend-enabled")

    browser.submit("#resend", then="#message")
    assert browser.message() == ("resent", "Мы отправили новый код.")
    assert not browser.find("#resend").is_enabled(), "a new cooldown starts"
    wait_until(lambda: len(sandbox.outbox(PHONE)) == 2, 20, "the second SMS")
    second = sandbox.last_code(PHONE)
    browser.shot("resent")

    browser.find("input[name=code]").send_keys(second)
    browser.submit("#verify", then="#logged-in")
    _assert_no_secrets_leaked(app, browser, first, second)


def test_rate_limited_phone_shows_the_wait_counting_down(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
    open_browser: Callable[..., Browser],
) -> None:
    settings = make_settings(redis_url, sandbox, OTP_PHONE_MAX_PER_HOUR=1)
    start_worker(settings)
    app = start_app(settings)
    browser = open_browser(app)
    _log_in(browser, sandbox)
    browser.submit("#another-number", then="#phone-step")
    assert browser.find("input[name=phone]").get_attribute("value") == TYPED_PHONE

    browser.submit("#send", then="#message")
    key, text = browser.message()
    assert key == "rate_limited"
    match = re.fullmatch(r"Слишком много запросов\. Повторите через (\d+):(\d\d)\.", text)
    assert match, text
    assert 3000 <= int(match[1]) * 60 + int(match[2]) <= 3600
    assert not browser.find("#send").is_enabled()
    browser.shot("rate-limited")
    wait_until(lambda: browser.find("#message").text != text, 5, "the countdown to tick")
    assert browser.has("#phone-step")
    assert len(sandbox.outbox(PHONE)) == 1


def test_captcha_always_without_a_token_sends_nothing(
    redis_url: str,
    sandbox: Sandbox,
    captcha_stand_in: StandIn,
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
    open_browser: Callable[..., Browser],
) -> None:
    settings = make_settings(
        redis_url,
        sandbox,
        CAPTCHA_MODE="always",
        CAPTCHA_PROVIDER="yandex",
        CAPTCHA_SECRET=SECRET,
        CAPTCHA_VERIFY_URL=captcha_stand_in.url("yandex"),
    )
    start_worker(settings)
    app = start_app(settings)
    browser = open_browser(app)

    browser.open("/")
    assert browser.has("#captcha .smart-captcha"), "Yandex SmartCaptcha's widget is on the form"
    browser.find("input[name=phone]").send_keys(TYPED_PHONE)
    browser.submit("#send", then="#message")
    assert browser.message() == (
        "captcha_required",
        "Подтвердите, что вы не робот, и отправьте форму ещё раз.",
    )
    assert browser.has("#phone-step #captcha")
    assert captcha_stand_in.received == [], "no token: the provider is not even asked"
    browser.shot("captcha-required")

    bad, good = token("bad"), token("good")
    browser.solve_captcha("smart-token", bad)  # what the widget does once solved
    browser.submit("#send", then="#message")
    assert browser.message()[0] == "captcha_failed"
    browser.shot("captcha-failed")

    browser.solve_captcha("smart-token", good)
    browser.submit("#send", then="#code-step")
    wait_until(lambda: sandbox.outbox(PHONE), 20, "the SMS after a solved captcha")
    assert [r.form["token"] for r in captcha_stand_in.received] == [bad, good]
    assert len(sandbox.outbox(PHONE)) == 1, "only the request with a good token sent an SMS"
    browser.shot("captcha-passed")


def test_english_by_accept_language_and_csrf_is_checked(
    settings: Settings,
    start_app: Callable[..., App],
    open_browser: Callable[..., Browser],
) -> None:
    app = start_app(settings)
    browser = open_browser(app, lang="en-US")
    browser.open("/")
    assert browser.find("h1").text == "Sign in with your phone"
    browser.find("input[name=phone]").send_keys("12345")
    browser.submit("#send", then="#message")
    assert browser.message() == (
        "invalid_phone",
        "Check the number: a mobile number such as +7 900 123-45-67.",
    )
    browser.shot("invalid-phone-en")

    # A form posted from elsewhere (no CSRF token) is refused.
    answer = requests.post(app.url + "/send", data={"phone": PHONE}, timeout=5)
    assert answer.status_code == 400
    assert "Форма устарела" in answer.text


def test_a_failed_send_shows_not_delivered_live_and_offers_a_new_code(
    settings: Settings,
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
    open_browser: Callable[..., Browser],
) -> None:
    start_worker(settings)
    app = start_app(settings)
    browser = open_browser(app)
    browser.open("/")
    browser.find("input[name=phone]").send_keys("+79990000200")  # the sandbox: bad credentials
    browser.submit("#send", then="#code-step")

    wait_until(lambda: browser.stage() == "not_delivered", 20, "the not-delivered status")
    assert browser.find("#delivery-status").text == "SMS не доставлено"
    browser.shot("not-delivered")

    browser.find("input[name=code]").send_keys("123456")
    browser.submit("#verify", then="#message")
    assert browser.message() == ("failed", "Не удалось отправить SMS.")
    assert browser.find("#resend").text == "Запросить новый код"
    assert browser.find("#resend").is_enabled()
    browser.shot("failed-new-code")


def test_redis_down_is_a_clear_503_not_a_traceback(
    settings: Settings, start_app: Callable[..., App]
) -> None:
    app = start_app(settings)
    first = requests.get(app.url + "/", timeout=5)
    cookie = first.cookies["phone_login"]
    # The app keeps running; its Redis goes away (a port where nothing listens).
    down = settings.replace(REDIS_URL=f"redis://127.0.0.1:{refused_port()}/0")
    app_down = start_app(down, wait=False)
    wait_until(lambda: "Running on" in app_down.output(), 30, "the app to listen")

    for cookies in ({}, {"phone_login": cookie}):
        answer = requests.get(app_down.url + "/", cookies=cookies, timeout=10)
        assert answer.status_code == 503
        assert "Сервис временно недоступен" in answer.text
    assert "Traceback" not in app_down.output()


def test_reads_dotenv_in_the_current_directory_and_the_environment_wins(
    settings: Settings, start_app: Callable[..., App]
) -> None:
    """``main()`` reads ``.env`` as the targetsms CLI does: from the current directory, below
    the environment."""
    app = start_app(settings, dotenv=True)
    client = FormClient(app, settings)
    assert "csrf" in client.session(), "the session is in the Redis and prefix .env names"
    assert 'id="phone-step"' in client.page

    # The environment names a Redis where nothing listens: it wins over the file.
    down = {"REDIS_URL": f"redis://127.0.0.1:{refused_port()}/0"}
    app_down = start_app(settings, dotenv=True, extra=down, wait=False)
    wait_until(lambda: "Running on" in app_down.output(), 30, "the app to listen")
    answer = requests.get(app_down.url + "/", timeout=10)
    assert answer.status_code == 503 and "Сервис временно недоступен" in answer.text


# -- who logs in ---------------------------------------------------------------------------------


def test_another_spelling_of_a_number_is_not_logged_in_with_your_own_code(
    settings: Settings,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
) -> None:
    """Once, the API refused "8 900 ..." while the app kept it in the session and, at /verify,
    logged in the +7 number it spells with the code of the attacker's own verification."""
    start_worker(settings)
    app = start_app(settings)
    attacker = FormClient(app, settings)
    code = _own_code(attacker, sandbox)

    attacker.post("/send", phone="8 900 123-45-67")  # the victim's number, as Russians type it
    attacker.post("/verify", code=code)

    assert attacker.session().get("user") is None, "the attacker's code proved no number here"
    assert 'id="logged-in"' not in attacker.page
    victim_sms = sandbox.outbox(PHONE)
    assert len(victim_sms) <= 1 and code not in [m["code"] for m in victim_sms]
    assert "9001234567" not in app.output() and "9161112233" not in app.output()


def test_a_number_refused_by_its_cooldown_is_not_logged_in_with_your_own_code(
    redis_url: str,
    sandbox: Sandbox,
    start_worker: Callable[..., WorkerProcess],
    start_app: Callable[..., App],
) -> None:
    """Once, a refused request still wrote its number into the session, and /verify logged in
    that number with the code of the verification the session already had."""
    settings = make_settings(redis_url, sandbox, OTP_RESEND_COOLDOWN_SECONDS=600)
    start_worker(settings)
    app = start_app(settings)
    FormClient(app, settings).post("/send", phone=PHONE)  # the victim asks for a code
    attacker = FormClient(app, settings)
    code = _own_code(attacker, sandbox)
    before = attacker.session()

    attacker.post("/send", phone=PHONE)  # correctly spelled, refused: the cooldown runs
    assert attacker.message_key() == "rate_limited"
    after = attacker.session()
    assert {k: after.get(k) for k in ("vid", "phone", "sent_at")} == {
        k: before.get(k) for k in ("vid", "phone", "sent_at")
    }, "a refused request writes nothing of its number"
    attacker.post("/verify", code=code)

    assert attacker.session().get("user") == ATTACKER, "the code proved the attacker's number"
    assert "+7916•••••33" in attacker.page
    assert "9001234567" not in app.output() and "9161112233" not in app.output()
