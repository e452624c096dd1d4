"""Every knob of the sandbox gateway, in one place the engine, the pusher and the server share."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

__all__ = ["SandboxConfig", "push_url_problem"]


def push_url_problem(url: str) -> str | None:
    if not url.startswith(("http://", "https://")) or len(url) > 2000:
        return "push URL must be an http(s) URL of at most 2000 characters"
    return None


@dataclass
class SandboxConfig:
    """Every knob of the sandbox. ``port=0`` picks a free port (the CLI defaults to 8099)."""

    host: str = "127.0.0.1"
    port: int = 0
    login: str | None = None  # None: any non-empty login/password pair is accepted
    password: str | None = field(default=None, repr=False)
    latency_ms: float = 0.0
    deliver_after_ms: float = 2000.0
    balance: Decimal = Decimal("1000.00")
    connection_error_rate: float = 0.0
    hang_rate: float = 0.0
    html_rate: float = 0.0
    malformed_rate: float = 0.0
    seed: int | None = None
    max_messages: int = 100_000
    verbose: bool = False
    push_url: str | None = None  # POST status changes here, as the platform does
    push_retry_ms: float = 500.0  # first pause before an unacknowledged id is sent again
    # The platform refuses a request identical to one it accepted within a minute; 0: off.
    duplicate_window_ms: float = 60_000.0
    trickle_ms: float = 1000.0  # pace of the trickling magic numbers, a byte at a time
    # An unknown id inside a state batch: one request-level <error> instead of a per-id one.
    state_batch_error: bool = False

    def __post_init__(self) -> None:
        self.balance = Decimal(str(self.balance))
        if (self.login is None) != (self.password is None):
            raise ValueError("give both login and password, or neither")
        if self.login == "" or self.password == "":
            raise ValueError("login and password must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be in 0..65535")
        if min(self.latency_ms, self.deliver_after_ms, self.duplicate_window_ms) < 0:
            raise ValueError("latency, deliver-after and the duplicate window must not be negative")
        if self.trickle_ms <= 0:
            raise ValueError("trickle-ms must be positive")
        if not self.balance.is_finite() or self.balance < 0:
            raise ValueError("balance must be a non-negative number")
        rates = (self.connection_error_rate, self.hang_rate, self.html_rate, self.malformed_rate)
        if any(not 0 <= rate <= 1 for rate in rates) or sum(rates) > 1:
            raise ValueError("fault rates must be in 0..1 and add up to at most 1")
        if self.max_messages < 1:
            raise ValueError("max-messages must be at least 1")
        if self.push_url and push_url_problem(self.push_url):
            raise ValueError(push_url_problem(self.push_url))
        if self.push_retry_ms < 0:
            raise ValueError("push-retry-ms must not be negative")

    def url_for(self, port: int) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"
