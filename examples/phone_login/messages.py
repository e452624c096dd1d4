"""Every text the page shows, in Russian (the default) and English.

Each refusal code of ``request_code``/``resend`` and each reason of ``verify_code`` has its own
sentence: users are told what to do next, never which internal limit fired.
"""

from __future__ import annotations

LANGUAGES = ("ru", "en")

TEXTS: dict[str, dict[str, str]] = {
    "ru": {
        "title": "Вход по номеру телефона",
        "phone_label": "Номер телефона",
        "phone_hint": "Например, +7 900 123-45-67",
        "send": "Получить код",
        "code_label": "Код из SMS",
        "code_sent_to": "Мы отправили код на номер {phone}.",
        "verify": "Войти",
        "resend": "Отправить код ещё раз",
        "resend_wait": "Новый код можно запросить через {wait}.",
        "new_code": "Запросить новый код",
        "another_number": "Изменить номер",
        "logged_in": "Вы вошли как {phone}.",
        "logout": "Выйти",
        "logged_out": "Вы вышли из аккаунта.",
        "captcha_prompt": "Подтвердите, что вы не робот.",
        "no_script": "Без JavaScript статус и обратный отсчёт не обновляются: обновите страницу.",
        # live delivery status
        "stage_sending": "Отправляем SMS…",
        "stage_sent": "SMS отправлено",
        "stage_delivered": "SMS доставлено",
        "stage_not_delivered": "SMS не доставлено",
        "stage_verified": "Код подтверждён",
        "stage_expired": "Срок действия кода истёк",
        "stage_locked": "Код заблокирован",
        "stage_canceled": "Код отменён",
        "stage_gone": "Код больше не действует",
        # request_code / resend refusals
        "invalid_phone": "Проверьте номер: нужен мобильный номер, например +7 900 123-45-67.",
        "invalid_ip": "Не удалось обработать запрос. Попробуйте ещё раз.",
        "country_not_allowed": "Мы не отправляем SMS в эту страну.",
        "phone_not_allowed": "На этот номер нельзя отправить SMS.",
        "rate_limited": "Слишком много запросов. Повторите через {wait}.",
        "rate_limited_later": "Слишком много запросов. Попробуйте позже.",
        "captcha_required": "Подтвердите, что вы не робот, и отправьте форму ещё раз.",
        "captcha_failed": "Проверка «я не робот» не пройдена. Попробуйте ещё раз.",
        "not_allowed": "Для этого кода нельзя запросить повтор. Запросите новый код.",
        "unavailable": "Сервис временно недоступен. Попробуйте через минуту.",
        "csrf": "Форма устарела. Обновите страницу и попробуйте ещё раз.",
        "resent": "Мы отправили новый код.",
        # verify_code reasons
        "empty_code": "Введите код из SMS.",
        "wrong": "Неверный код. Осталось попыток: {attempts}.",
        "locked": "Слишком много неверных попыток: этот код больше не действует.",
        "expired": "Срок действия кода истёк.",
        "failed": "Не удалось отправить SMS.",
        "already_used": "Этот код уже использован.",
        "not_sent_yet": "SMS ещё не отправлено. Подождите несколько секунд.",
        "verify_rate_limited": "Слишком много попыток. Повторите через {wait}.",
        "canceled": "Этот код больше не действует.",
        "unknown": "Этот код больше не действует.",
    },
    "en": {
        "title": "Sign in with your phone",
        "phone_label": "Phone number",
        "phone_hint": "For example, +7 900 123-45-67",
        "send": "Get a code",
        "code_label": "Code from the SMS",
        "code_sent_to": "We sent a code to {phone}.",
        "verify": "Sign in",
        "resend": "Send the code again",
        "resend_wait": "You can ask for a new code in {wait}.",
        "new_code": "Get a new code",
        "another_number": "Change the number",
        "logged_in": "You are signed in as {phone}.",
        "logout": "Sign out",
        "logged_out": "You have signed out.",
        "captcha_prompt": "Please confirm you are not a robot.",
        "no_script": "Without JavaScript the status and countdown do not update: reload the page.",
        "stage_sending": "Sending the SMS…",
        "stage_sent": "SMS sent",
        "stage_delivered": "SMS delivered",
        "stage_not_delivered": "SMS not delivered",
        "stage_verified": "Code confirmed",
        "stage_expired": "The code has expired",
        "stage_locked": "The code is locked",
        "stage_canceled": "The code was canceled",
        "stage_gone": "The code no longer works",
        "invalid_phone": "Check the number: a mobile number such as +7 900 123-45-67.",
        "invalid_ip": "The request could not be processed. Please try again.",
        "country_not_allowed": "We do not send SMS to this country.",
        "phone_not_allowed": "SMS cannot be sent to this number.",
        "rate_limited": "Too many requests. Try again in {wait}.",
        "rate_limited_later": "Too many requests. Please try again later.",
        "captcha_required": "Please confirm you are not a robot and submit the form again.",
        "captcha_failed": "The captcha check did not pass. Please try again.",
        "not_allowed": "This code cannot be sent again. Please get a new code.",
        "unavailable": "The service is temporarily unavailable. Please try again in a minute.",
        "csrf": "This form has expired. Reload the page and try again.",
        "resent": "We sent a new code.",
        "empty_code": "Enter the code from the SMS.",
        "wrong": "Wrong code. Attempts left: {attempts}.",
        "locked": "Too many wrong attempts: this code no longer works.",
        "expired": "The code has expired.",
        "failed": "The SMS could not be sent.",
        "already_used": "This code has already been used.",
        "not_sent_yet": "The SMS has not been sent yet. Please wait a few seconds.",
        "verify_rate_limited": "Too many attempts. Try again in {wait}.",
        "canceled": "This code no longer works.",
        "unknown": "This code no longer works.",
    },
}

assert TEXTS["ru"].keys() == TEXTS["en"].keys()


def format_wait(seconds: int) -> str:
    """m:ss, the same format the page's countdown script writes."""
    seconds = max(0, seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"
