"""A command's result on stdout: one JSON object, or one ``key value`` line per leaf."""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["print_json", "print_text"]


def print_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def print_text(obj: Any, prefix: str = "") -> None:
    """The human form of a JSON result (``--text``): one ``key value`` line per leaf."""
    if isinstance(obj, dict) and obj:
        for key, value in obj.items():
            print_text(value, f"{prefix}.{key}" if prefix else str(key))
    else:
        sys.stdout.write(f"{prefix:<32} {json.dumps(obj, ensure_ascii=False, default=str)}\n")
