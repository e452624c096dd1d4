"""``targetsms push-receiver``'s server: the WSGI receiver on waitress until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import sys
from types import FrameType

from worker.web.push.url import PATH_PREFIX
from worker.web.push.wsgi import PushWSGIApp

__all__ = ["BANNER", "DEFAULT_PORT", "serve"]

DEFAULT_PORT = 8098
BANNER = "push-receiver listening on {url} (POST {prefix}<TARGETSMS_PUSH_TOKEN>)"


def serve(app: PushWSGIApp, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> int:
    """Serve ``app`` until SIGINT/SIGTERM, within ``PUSH_LIMITS`` (worker/web/serving.py)."""
    # Imported here: a web app mounting the receiver does not need waitress.
    from worker.web.serving import PUSH_LIMITS
    from worker.web.serving import serve as bind

    try:
        server = bind(app, host, port, PUSH_LIMITS, name="push")
    except OSError as exc:
        sys.stderr.write(f"targetsms: push-receiver cannot listen on {host}:{port}: {exc}\n")
        return 1

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(BANNER.format(url=server.url, prefix=PATH_PREFIX), flush=True)
    server.run()
    return 0
