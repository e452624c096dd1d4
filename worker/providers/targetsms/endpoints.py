"""The guide's fixed values that settings need before any client exists: its two URLs and the
platform's window for refusing a repeated request. A module of their own so that reading
settings (every producer, the CLI) does not import the client's HTTP and XML stack."""

from __future__ import annotations

__all__ = ["DEFAULT_DUPLICATE_WINDOW_SECONDS", "DEFAULT_SEND_URL", "DEFAULT_STATE_URL"]

DEFAULT_SEND_URL = "https://apiagent.ru/password_generation/api.php"
DEFAULT_STATE_URL = "https://sms.targetsms.ru/xml/state.php"
# The platform refuses a request identical to one it accepted less than a minute before.
DEFAULT_DUPLICATE_WINDOW_SECONDS = 60.0
