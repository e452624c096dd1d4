"""Identifiers and digests."""

from __future__ import annotations

import secrets

from worker.core.codes import code_digest, is_verification_id, new_verification_id, normalize_code


def test_ids_never_start_with_a_dash_and_stay_unguessable() -> None:
    ids = [new_verification_id() for _ in range(20_000)]  # a dash would start ~312 of them
    assert not [i for i in ids if i.startswith("-")]
    assert len(set(ids)) == len(ids)
    assert all(is_verification_id(i) and len(i) == 22 for i in ids)
    assert sum(i.count("-") for i in ids) > 0  # still URL-safe base64, dashes inside


def test_codes_are_compared_as_typed_without_separators() -> None:
    assert normalize_code(" 123 456 ") == "123456" and normalize_code("123-456") == "123456"
    key = secrets.token_bytes(32)
    a = code_digest(key, "id", "123456")
    assert a == code_digest(key, "id", "123456") != code_digest(key, "id2", "123456")
    assert len(a) == 64 and "123456" not in a
