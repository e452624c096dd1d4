"""A claimed send to a test number (``OTP_TEST_NUMBERS``): the fixed code's HMAC is stored as
a sent code would be, without calling the provider, so nothing is sent and nothing is spent.

The request before it went through the whole gate like any other (limits, captcha, country):
a reviewer or an end-to-end test sees exactly what a user sees, and a leaked test number is no
way around the limits. The store step counts it as ``test_number_sends``, not as an SMS sent.
"""

from __future__ import annotations

import logging

from worker.core.codes import code_digest, pseudonym
from worker.core.outcomes import SendVerdict
from worker.runtime import Runtime

__all__ = ["TEST_NUMBER_STATUS", "store_test_number"]

log = logging.getLogger("targetsms.send")

#: The record's delivery status: final, so no poll asks the gateway about an SMS never sent.
TEST_NUMBER_STATUS = "deliver"


def store_test_number(rt: Runtime, verification_id: str, token: str, phone: str) -> SendVerdict:
    s = rt.settings
    # The gate's phone pseudonym (its first 12 characters): the log names no number, yet an
    # operator can tell one test number's uses from another's.
    who = pseudonym(rt.pseudonym_secret, "phone", phone)[:12]
    stored = rt.store.store_sent(
        verification_id,
        token,
        code_digest=code_digest(rt.secret, verification_id, s.test_codes[phone]),
        id_sms=f"test-{verification_id}",
        status=TEST_NUMBER_STATUS,
        ttl_ms=s.codes.ttl_seconds * 1000,
        first_poll_ms=0,
        max_attempts=s.codes.max_attempts,
        poll_ttl_ms=60_000,
        poll_slack_ms=0,
        poll_grace_ms=0,
        poll_batch=s.polling.batch_size,
        test_number=True,
    )
    if not stored.stored:
        log.warning("send %s: test number %s, but the record is now %s", verification_id, who,
                    stored.state)  # fmt: skip
        return SendVerdict.SKIPPED
    log.warning("send %s: test number %s: fixed code stored, no SMS sent", verification_id, who)
    return SendVerdict.SENT
