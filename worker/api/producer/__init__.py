"""The producer API that web apps call: request, verify, inspect, resend, cancel.

Each call is a few Redis round trips and never talks to the gateway, so a web request stays
fast whatever TargetSMS does. Every SMS -- a first request or a resend -- passes the same gate
(``requesting``, then ``admit_sms`` in the store). Expected refusals are exceptions with a
stable ``code``; the caller is told *that* it was limited and for how long, never *which* limit
fired.

- ``requesting``: ``request_code`` and ``resend``, the gate path every SMS takes;
- ``verifying``: ``verify_code``; ``records``: ``get_status`` and ``cancel``;
- ``validation``: the caller's input (``client_ip``, ids, types); ``refusals``: how a refusal is
  told and counted; ``boundary``: the runtime a call uses, and ``ServiceUnavailable``.
"""

from worker.api.producer.records import VerificationStatus, cancel, get_status
from worker.api.producer.requesting import CodeRequest, request_code, resend
from worker.api.producer.verifying import VerifyResult, verify_code
from worker.errors import RequestRefused, ServiceUnavailable, VerificationNotFound

__all__ = [
    "CodeRequest",
    "RequestRefused",
    "ServiceUnavailable",
    "VerificationNotFound",
    "VerificationStatus",
    "VerifyResult",
    "cancel",
    "get_status",
    "request_code",
    "resend",
    "verify_code",
]
