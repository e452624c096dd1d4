"""Server-side sessions in Redis: the cookie holds only a random session id.

Flask's default session is a signed cookie, readable by anyone holding it; the verification
id is a capability (whoever has it can guess codes against it), so it stays on the server.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from typing import Any

import redis
from flask import Flask, Request, Response
from flask import request as current_request
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

UNAVAILABLE_TEXT = (
    "Сервис временно недоступен. Попробуйте через минуту.\n"
    "The service is temporarily unavailable. Please try again in a minute.\n"
)
_SID = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32)


class RedisSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, data: dict[str, Any] | None = None, sid: str | None = None) -> None:
        def touched(_: CallbackDict[str, Any]) -> None:
            self.modified = True

        super().__init__(data or {}, touched)
        self.sid = sid
        self.new = sid is None
        self.modified = False
        self.rotate = False
        self.unavailable = False  # Redis could not be read: the app answers 503

    def regenerate(self) -> None:
        """A new id at login, so an id planted before login (session fixation) is worthless."""
        self.rotate = True
        self.modified = True


class RedisSessionInterface(SessionInterface):
    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: int, allow_http: bool):
        self.redis = client
        self.prefix = prefix
        self.ttl = ttl_seconds
        self.allow_http = allow_http

    def open_session(self, app: Flask, request: Request) -> RedisSession:
        sid = request.cookies.get(self.get_cookie_name(app))
        if sid and _SID.fullmatch(sid):
            try:
                raw = self.redis.get(self.prefix + sid)
            except redis.RedisError:
                broken = RedisSession()
                broken.unavailable = True
                return broken
            if raw:
                return RedisSession(json.loads(raw), sid)
        return RedisSession()

    def save_session(  # type: ignore[override]
        self, app: Flask, session: RedisSession, response: Response
    ) -> None:
        response.vary.add("Cookie")
        if session.unavailable:
            return
        try:
            self._save(app, session, response)
        except redis.RedisError:
            # The change was not kept: say so instead of what the view answered.
            response.status_code = 503
            response.headers.pop("Location", None)
            response.mimetype = "text/plain"
            response.set_data(UNAVAILABLE_TEXT)

    def _save(self, app: Flask, session: RedisSession, response: Response) -> None:
        name = self.get_cookie_name(app)
        path = self.get_cookie_path(app)
        if not session:
            if session.sid is not None:
                self.redis.delete(self.prefix + session.sid)
                response.delete_cookie(name, path=path)
            return
        if not session.modified and session.sid is not None:
            # Only refresh the expiry: a request that changed nothing (a stylesheet, the status
            # stream) must not write back an old copy over a concurrent request's changes.
            self.redis.expire(self.prefix + session.sid, self.ttl)
            return
        if session.rotate and session.sid is not None:
            self.redis.delete(self.prefix + session.sid)
            session.sid = None
        if session.sid is None:
            session.sid = secrets.token_urlsafe(32)
        self.redis.set(self.prefix + session.sid, json.dumps(dict(session)), ex=self.ttl)
        response.set_cookie(
            name,
            session.sid,
            path=path,
            httponly=True,
            samesite="Lax",
            secure=current_request.is_secure
            or not (self.allow_http or _loopback(current_request.host)),
        )


def _loopback(host: str) -> bool:
    """Plain http is only expected on the developer's own machine."""
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.strip("[]")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
