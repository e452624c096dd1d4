"""The producer API from a web server's many threads and from gevent greenlets."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

from helpers import make_settings

from worker import request_code, verify_code
from worker.providers.memory import InMemoryProvider
from worker.runtime import Runtime
from worker.steps.sending import send_verification


def test_from_many_threads(redis_url: str, sms: InMemoryProvider) -> None:
    rt = Runtime.from_settings(make_settings(redis_url), provider=sms)
    phones = [f"+7901{n:07d}" for n in range(300)]
    with ThreadPoolExecutor(64) as pool:
        ids = list(pool.map(lambda p: request_code(p, runtime=rt).id, phones))
        results = list(pool.map(lambda i: verify_code(i, "123456", runtime=rt).reason, ids))
    assert len(set(ids)) == 300 and set(results) == {"not_sent_yet"}
    assert send_verification(rt, ids[0]).result == "sent"


GEVENT_SCRIPT = textwrap.dedent(
    """
    from gevent import monkey
    monkey.patch_all()
    import gevent
    from worker import request_code, verify_code

    def one(n):
        req = request_code(f"+7902{n:07d}")
        return verify_code(req.id, "000000").reason

    jobs = [gevent.spawn(one, n) for n in range(200)]
    gevent.joinall(jobs, timeout=60, raise_error=True)
    reasons = {job.value for job in jobs}
    assert reasons == {"not_sent_yet"}, reasons
    print("ok", len(jobs))
    """
)


def test_from_gevent_greenlets(redis_url: str) -> None:
    env = {**os.environ, **make_settings(redis_url).to_env()}
    out = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "ok 200"
