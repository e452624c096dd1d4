"""Outbound HTTP shared by the SMS providers and the captcha checks.

One wall-clock limit per call (``deadline``), a small transport interface (``transport``), and
which URLs may receive secrets (``urls``).
"""
