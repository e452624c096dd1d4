"""Values and rules: ids and digests, phone numbers, outcomes, the SMS gate.

No I/O here."""
