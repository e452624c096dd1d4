"""Inbound HTTP that a server mounts: the push receiver (later the HTTP API and integrations)."""
