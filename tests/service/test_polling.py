"""Following delivery (worker.steps.polling): due ids share one poll task and one ``state``
request, each backs off until its final status. Real Redis on a ``FakeClock``, the in-memory
provider answering the statuses."""

from __future__ import annotations

from helpers import FakeClock, make_settings, runtime_with_clock

from worker import get_status, request_code
from worker.providers.memory import InMemoryProvider
from worker.steps.polling import poll_due
from worker.steps.sending import send_verification


def test_polling_batches_all_due_ids_in_one_request(redis_url: str, sms: InMemoryProvider) -> None:
    clock = FakeClock()
    settings = make_settings(redis_url, OTP_POLL_FIRST_DELAY_SECONDS=0.1)
    rt = runtime_with_clock(settings, clock, sms)
    ids, polls = [], []
    for n in range(12):
        req = request_code(f"+7900555{n:04d}", runtime=rt)
        outcome = send_verification(rt, req.id)
        ids.append(req.id)
        polls.append(outcome.poll)
    # Sends within the same second share one poll task.
    assert polls[0] is not None and polls[1:] == [None] * 11
    pending = request_code("+79001230000", runtime=rt).id
    assert send_verification(rt, pending).result == "sent"
    sms.statuses.update({m.id_sms: "deliver" for m in sms.outbox[:12]})  # the last stays "send"
    clock.advance(0.2)  # past the first poll delay
    report = poll_due(rt, polls[0].marker)
    assert report.asked == 13 and report.changed == 12 and report.stopped == 12
    assert [len(ids_asked) for ids_asked in sms.state_requests] == [13]
    assert all(get_status(i, runtime=rt).delivery_status == "deliver" for i in ids)
    # The pending one is polled again later (backoff); nothing is due right now.
    assert poll_due(rt).asked == 0
    assert get_status(pending, runtime=rt).delivery_status == "send"
    assert report.next_poll is not None
    rt.close()
