"""R4a: the text no entry point may store, shared by every service's tests.

Each case is a JSON fragment as a client sends it (``\\ud800`` travels as an escape: JSON carries a
lone surrogate that UTF-8 cannot), so the request bodies are built as raw JSON text.
"""

from __future__ import annotations

import json
from typing import Any

# (name, the JSON string literal, refused in multi-line text too)
HOSTILE: list[tuple[str, str, bool]] = [
    ("U+FFFE", '"a\\ufffeb"', True),
    ("U+FFFF", '"a\\uffffb"', True),
    ("U+FDD0", '"a\\ufdd0b"', True),
    ("U+1FFFE", '"a\\ud83f\\udffeb"', True),
    ("lone high surrogate", '"a\\ud800b"', True),
    ("lone low surrogate", '"a\\udfffb"', True),
    ("NUL", '"a\\u0000b"', True),
    ("vertical tab", '"a\\u000bb"', True),
    ("form feed", '"a\\u000cb"', True),
    ("ESC", '"a\\u001b[31mb"', True),
    ("DEL", '"a\\u007fb"', True),
    ("C1 NEL", '"a\\u0085b"', True),
    ("newline", '"a\\nb"', False),
    ("tab", '"a\\tb"', False),
]

PLACEHOLDER = "\u0007HOSTILE\u0007"


def body_with(template: Any, literal: str) -> bytes:
    """``template`` as JSON, its PLACEHOLDER string replaced by the raw JSON ``literal``."""
    text = json.dumps(template, ensure_ascii=False)
    marker = json.dumps(PLACEHOLDER, ensure_ascii=False)
    assert marker in text
    return text.replace(marker, literal).encode("utf-8")


def flat_keys(errors: Any, prefix: str = "") -> set[str]:
    """Every field an ``errors`` map names, nested maps as dotted paths (``0.author.officer``)."""
    keys: set[str] = set()
    if isinstance(errors, dict):
        for key, value in errors.items():
            path = f"{prefix}{key}"
            keys.add(path)
            keys |= flat_keys(value, path + ".")
    return keys


def names(errors: Any, field: str) -> bool:
    """Whether an ``errors`` map names ``field`` (itself, or something inside it)."""
    return any(k == field or k.startswith((field + ".", field + "[")) for k in flat_keys(errors))
