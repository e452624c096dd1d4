"""How often the secrets rule refuses a truly random value (the README's "Secrets" figures).

    .venv/bin/python bench/secret_refusals.py [--tries 300000]

The estimate is rough on purpose (``worker/core/secrets.py``), so a random value can read as
words or a pattern now and then: this counts how often, for Flower passwords of 16 and 43
characters (``token_urlsafe(12)`` and the hint's ``token_urlsafe(32)``) and secret keys.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from worker.core.secrets import flower_auth_problems, secret_problems  # noqa: E402

CASES: dict[str, Callable[[], bool]] = {
    "Flower password, token_urlsafe(12) (16 characters)": lambda: bool(
        flower_auth_problems(f"ops:{secrets.token_urlsafe(12)}")
    ),
    "Flower password, token_urlsafe(32) (43 characters)": lambda: bool(
        flower_auth_problems(f"ops:{secrets.token_urlsafe(32)}")
    ),
    "OTP_SECRET_KEY, token_hex(16) (128 bits)": lambda: bool(
        secret_problems("OTP_SECRET_KEY", secrets.token_hex(16))
    ),
    "OTP_SECRET_KEY, token_urlsafe(32)": lambda: bool(
        secret_problems("OTP_SECRET_KEY", secrets.token_urlsafe(32))
    ),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tries", type=int, default=300_000, help="random values per case")
    args = parser.parse_args()
    for label, refused in CASES.items():
        count = sum(refused() for _ in range(args.tries))
        rate = f"1 in {args.tries // count:,}" if count else "none"
        print(f"{label}: {count} of {args.tries:,} refused ({rate})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
