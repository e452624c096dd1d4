"""One strength rule for every secret we are given, so a shipped or guessable one stops us at start.

A key that an attacker can guess lets anyone with read access to Redis invert a stored code's
HMAC (a 6-digit code is 10^6 HMACs away: seconds), and a guessable Flower password opens
the task pages. So every secret (``OTP_SECRET_KEY`` and its previous keys, ``OTP_PSEUDONYM_KEY``,
``TARGETSMS_PUSH_TOKEN``, the password in ``FLOWER_BASIC_AUTH``, and any key added later) goes
through ``secret_problems``: the values our example files shipped are refused outright;
placeholder words, repeated characters, runs such as ``abcd`` or ``4321`` and a repeated block
count for nothing; what is left must be worth enough bits by a deliberately rough estimate
(length x log2 of the character classes used) and hold enough distinct characters. A problem
names the variable, never the value, and says how to make a good one.
"""

from __future__ import annotations

import math
import re
import string

__all__ = [
    "GENERATE_HINT",
    "KEY_BITS",
    "MIN_TOKEN_CHARS",
    "PASSWORD_BITS",
    "PASSWORD_MIN_CHARS",
    "estimated_bits",
    "flower_auth_problems",
    "secret_problems",
    "token_problem",
]

GENERATE_HINT = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
KEY_BITS = 128
# The push receiver's URL secret: this long at least, URL-safe.
MIN_TOKEN_CHARS = 32
PASSWORD_BITS = 80
PASSWORD_MIN_CHARS = 16
MIN_DISTINCT = 8

# What the example files (and the docs of other projects) put where a secret goes.
SHIPPED = frozenset(
    {
        "change-me-to-a-long-random-string",
        "change-me",
        "change-me-sandbox-only",
        "admin:change-me",
        "your-password",
        "your-login",
    }
)
# Removed (any case) before measuring: a value made of them is worth only what is left. Four
# letters at least, so a random value rarely loses a few characters to them by chance.
_WORDS = (
    "change-me", "changeme", "change_me", "change", "example", "sample", "placeholder", "your-",
    "your_", "secret", "password", "passwd", "admin", "default", "dummy", "replace", "insert",
    "token", "qwerty", "letmein", "random", "string", "fixme", "flower", "celery",
    "targetsms", "redis",
)  # fmt: skip
_WORD_RE = re.compile("|".join(re.escape(w) for w in sorted(_WORDS, key=len, reverse=True)), re.I)
# Runs of letters of one case between separators read as a phrase (``my-company-key``): each
# word worth what picking it from a large dictionary is, not its length in random letters.
_SEPARATED_WORD = re.compile(r"(?<![A-Za-z0-9])(?:[a-z]{3,}|[A-Z]{3,})(?![A-Za-z0-9])")
WORD_BITS = 13  # about 8,000 common words
_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, string.punctuation)


def _without_runs(value: str) -> str:
    """Each run of equal or consecutive characters (aaaa, abcd, 4321) cut to its first two."""
    out = [
        ch
        for i, ch in enumerate(value)
        if i < 2 or not _steady(ord(value[i - 2]), ord(value[i - 1]), ord(ch))
    ]
    return "".join(out)


def _steady(a: int, b: int, c: int) -> bool:
    return b - a == c - b and abs(c - b) <= 1


def _shortest_period(value: str) -> str:
    """The block that repeats to make ``value`` (``k7k7k7`` -> ``k7``), or ``value`` itself."""
    n = len(value)
    for period in range(1, n // 2 + 1):
        if all(value[i] == value[i - period] for i in range(period, n)):
            return value[:period]
    return value


def estimated_bits(value: str, *, ignore: tuple[str, ...] = ()) -> float:
    """A rough upper estimate of how hard ``value`` is to guess, in bits.

    Placeholder words (and ``ignore``, e.g. the user name beside a password, when it has four
    characters or more) are taken out,
    then runs and a repeated block; each remaining character is worth log2 of the size of the
    character classes the remainder uses (any non-ASCII character counts as one more class),
    and a word between separators at most ``WORD_BITS``.
    """
    rest = _WORD_RE.sub("", value)
    for word in ignore:
        if len(word) >= 4:
            rest = re.sub(re.escape(word), "", rest, flags=re.I)
    rest = _shortest_period(_without_runs(rest))
    pool = sum(len(chars) for chars in _CLASSES if any(ch in chars for ch in rest))
    if any(not ch.isascii() for ch in rest):
        pool += 100
    if pool <= 1:
        return 0.0
    per_char = math.log2(pool)
    bits = len(rest) * per_char
    words = _SEPARATED_WORD.findall(rest)
    for word in words if len(words) > 1 else ():  # a phrase; one such run is chance
        bits -= max(0.0, len(word) * per_char - WORD_BITS)
    return bits


def secret_problems(
    name: str,
    value: str,
    *,
    min_bits: float = KEY_BITS,
    min_chars: int = 0,
    ignore: tuple[str, ...] = (),
) -> list[str]:
    """Why ``value`` is not fit to be the secret ``name`` (empty: it is). Never repeats it."""
    how = f"generate one with {GENERATE_HINT}"
    if not value.strip():
        return [f"{name} is required: {how}"]
    if value.strip().lower() in SHIPPED:
        return [f"{name} is the placeholder from an example file: {how}"]
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        return [f"{name} must not contain spaces or control characters: {how}"]
    if len(value) < min_chars:
        return [f"{name} must be at least {min_chars} random characters: {how}"]
    distinct = len(set(value))
    if distinct < MIN_DISTINCT or estimated_bits(value, ignore=ignore) < min_bits:
        return [
            f"{name} is guessable (placeholder words, a pattern, or under an estimated "
            f"{min_bits:.0f} bits): {how}"
        ]
    return []


def flower_auth_problems(value: str, name: str = "FLOWER_BASIC_AUTH") -> list[str]:
    """Flower's ``user:password[,user:password...]``: every password must be a strong one."""
    if not value.strip():
        return [f"{name} is required (user:password): the password made with {GENERATE_HINT}"]
    out: list[str] = []
    for credential in value.split(","):
        user, colon, password = credential.partition(":")
        if not (user.strip() and colon):
            out.append(f"{name} must be user:password (several separated by commas)")
            continue
        out += secret_problems(
            f"{name} password for one user",
            password,
            min_bits=PASSWORD_BITS,
            min_chars=PASSWORD_MIN_CHARS,
            ignore=(user,),
        )
    return out


def token_problem(token: str) -> str | None:
    """Why a push token is not fit to guard the URL, or None: the rule of every secret, at
    least ``MIN_TOKEN_CHARS`` long, and URL-safe."""
    if not token:
        return f"TARGETSMS_PUSH_TOKEN is not set: the receiver needs one, made with {GENERATE_HINT}"
    if not all(ch.isascii() and (ch.isalnum() or ch in "-_.~") for ch in token):
        return "TARGETSMS_PUSH_TOKEN may hold only letters, digits and - _ . ~ (it is a URL path)"
    problems = secret_problems("TARGETSMS_PUSH_TOKEN", token, min_chars=MIN_TOKEN_CHARS)
    return problems[0] if problems else None
