"""Push receiver: the platform POSTs delivery statuses to us instead of waiting to be polled.

Each pushed ``<state>`` goes through the same Store step as a polled one, so a push and a poll
can race harmlessly: repeated statuses change nothing, a final status stops polling, an id we do
not know (another app on the account, a record long gone) is acknowledged and ignored. The only
thing that withholds an acknowledgement is a Redis we cannot reach: the platform then sends the
same states again (up to 5 times), so nothing is lost to a blink.

The platform signs nothing, so the secret is the URL itself: ``/targetsms/state/<token>`` with a
long random ``TARGETSMS_PUSH_TOKEN``, compared in constant time; every other path is a 404 and
the path never reaches a log line.

- ``url``: the path the platform pushes to, and which URLs ``push-register`` may give it;
- ``receiver``: ``PushReceiver``, the HTTP-free core (path check, parse, apply, acknowledge);
- ``wsgi`` and ``asgi``: the receiver mounted in a web application (``wsgi_app()``,
  ``asgi_app()``);
- ``server``: ``serve()``, behind ``targetsms push-receiver`` (waitress, with the deadlines and
  connection cap of worker/web/serving.py).
"""

from worker.web.push.asgi import PushASGIApp, asgi_app
from worker.web.push.receiver import PushAnswer, PushReceiver
from worker.web.push.server import DEFAULT_PORT, serve
from worker.web.push.url import MIN_TOKEN_CHARS, PATH_PREFIX, push_url_problem, token_problem
from worker.web.push.wsgi import PushWSGIApp, wsgi_app

__all__ = [
    "DEFAULT_PORT",
    "MIN_TOKEN_CHARS",
    "PATH_PREFIX",
    "PushASGIApp",
    "PushAnswer",
    "PushReceiver",
    "PushWSGIApp",
    "asgi_app",
    "push_url_problem",
    "serve",
    "token_problem",
    "wsgi_app",
]
