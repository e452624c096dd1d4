"""Values and rules: ids and digests, phone numbers, outcomes, the SMS gate's limits. No I/O."""
