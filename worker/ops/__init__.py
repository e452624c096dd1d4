"""Operators' tools: the command line, checks, statistics and the metrics exporter."""
