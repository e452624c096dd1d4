"""The HTTP-free receiver: check the secret path, parse the push, apply it, acknowledge it."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from worker.core.secrets import token_problem
from worker.errors import GatewayError
from worker.providers.targetsms.protocol import MAX_PUSH_BYTES, build_push_ack, parse_push
from worker.store import StoreUnavailable
from worker.web.push.url import PATH_PREFIX

__all__ = ["Apply", "PushAnswer", "PushReceiver", "build_receiver"]

log = logging.getLogger("targetsms.push")

_TEXT = "text/plain; charset=utf-8"
_XML = "text/xml; charset=utf-8"

Apply = Callable[[Sequence[tuple[str, str]]], list[str]]


@dataclass(frozen=True, slots=True)
class PushAnswer:
    status: int
    body: bytes
    content_type: str = _TEXT
    headers: tuple[tuple[str, str], ...] = ()


def _text(status: int, line: str, *headers: tuple[str, str]) -> PushAnswer:
    return PushAnswer(status, (line + "\n").encode(), _TEXT, headers)


NOT_FOUND = _text(404, "not found")
TOO_LARGE = _text(413, f"push body larger than {MAX_PUSH_BYTES} bytes")


class PushReceiver:
    """The HTTP-free core: path check, parse, apply, acknowledgement."""

    def __init__(self, token: str, apply: Apply) -> None:
        problem = token_problem(token)
        if problem:
            raise ValueError(problem)
        self._path = (PATH_PREFIX + token).encode()
        self._apply = apply

    def __repr__(self) -> str:
        return "PushReceiver(path='/targetsms/state/***')"

    def path_ok(self, path: str) -> bool:
        return hmac.compare_digest(path.encode("utf-8", "surrogateescape"), self._path)

    def handle(self, method: str, path: str, body: bytes | None) -> PushAnswer:
        """One request; ``body`` None means it was over the size cap."""
        if not self.path_ok(path):
            return NOT_FOUND
        if method != "POST":
            return _text(405, "POST only", ("Allow", "POST"))
        if body is None:
            return TOO_LARGE
        try:
            entries = parse_push(body)
        except GatewayError as exc:
            log.info("push: refused (%s)", exc.message)
            return _text(400, exc.message)
        states = [(e.id_sms, e.status or "") for e in entries]
        try:
            accepted = self._apply(states)
        except StoreUnavailable as exc:
            # No id acknowledged: the platform sends them all again.
            log.warning(
                "push: %d states, 0 accepted (Redis unavailable: %s)",
                len(states),
                type(exc).__name__,
            )
            accepted = []
        except Exception as exc:  # a bug: say which, never the values
            log.error(
                "push: %d states, 0 accepted (unexpected %s)", len(states), type(exc).__name__
            )
            return _text(500, "internal error")
        else:
            log.info("push: %d states, %d accepted", len(states), len(accepted))
        return PushAnswer(200, build_push_ack(accepted), _XML)


def build_receiver(token: str | None, apply: Apply | None) -> PushReceiver:
    """A receiver with ``token`` and ``apply``; each one not given comes from the environment
    (the push token and the process-wide Store)."""
    if token is None or apply is None:
        from worker.runtime import get_runtime

        rt = get_runtime()
        token = rt.settings.gateway.push_token if token is None else token
        apply = rt.store.apply_pushed if apply is None else apply
    return PushReceiver(token, apply)
