"""The pages' words in Russian and English, picked by the request's language."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.translation import get_language_from_request

__all__ = ["texts"]

_TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "title": "Вход по номеру телефона",
        "phone": "Номер телефона",
        "send": "Получить код",
        "code": "Код из SMS",
        "check": "Войти",
        "resend": "Отправить код ещё раз",
        "resend_in": "Новый код можно запросить через",
        "seconds": "с",
        "sent": "Мы отправили код в SMS.",
        "invalid_phone": "Проверьте номер телефона.",
        "rate_limited": "Слишком много попыток. Попробуйте позже.",
        "captcha_required": "Подтвердите, что вы не робот.",
        "captcha_failed": "Проверка не пройдена, попробуйте ещё раз.",
        "not_allowed": "На этот номер SMS не отправляются.",
        "wrong": "Неверный код.",
        "expired": "Код устарел, запросите новый.",
        "locked": "Слишком много неверных кодов, запросите новый.",
        "unavailable": "Сервис временно недоступен, попробуйте чуть позже.",
        "other": "Не получилось, запросите новый код.",
    },
    "en": {
        "title": "Sign in with your phone",
        "phone": "Phone number",
        "send": "Send me a code",
        "code": "Code from the SMS",
        "check": "Sign in",
        "resend": "Send a new code",
        "resend_in": "You can ask for a new code in",
        "seconds": "s",
        "sent": "We sent you a code by SMS.",
        "invalid_phone": "Check the phone number.",
        "rate_limited": "Too many attempts. Try again later.",
        "captcha_required": "Please confirm you are not a robot.",
        "captcha_failed": "The check failed; try again.",
        "not_allowed": "SMS to this number is not available.",
        "wrong": "Wrong code.",
        "expired": "The code has expired; ask for a new one.",
        "locked": "Too many wrong codes; ask for a new one.",
        "unavailable": "The service is briefly unavailable; try again shortly.",
        "other": "That did not work; ask for a new code.",
    },
}


def texts(request: HttpRequest) -> dict[str, str]:
    lang = getattr(request, "LANGUAGE_CODE", "") or get_language_from_request(request) or "ru"
    return _TEXTS["en" if lang.lower().startswith("en") else "ru"]


def language(request: HttpRequest) -> str:
    return "en" if texts(request) is _TEXTS["en"] else "ru"
