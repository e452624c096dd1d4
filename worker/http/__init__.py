"""Outbound HTTP shared by the SMS providers and the captcha checks.

One wall-clock limit per call."""
