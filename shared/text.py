"""R4a: which text may be stored at all, the same check at every entry point.

Pure (no framework imports): domain modules and schemas of every service call it.
"""

from __future__ import annotations

import re

# C0 controls, DEL and the C1 controls; tab and line feed (and the carriage return of a
# pasted Windows line ending) are allowed in multi-line text only.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Unicode noncharacters: U+FDD0–U+FDEF and the last two code points of every plane.
_NONCHARACTER = re.compile(
    "[\ufdd0-\ufdef\ufffe\uffff"
    + "".join(f"{chr(plane << 16 | 0xFFFE)}{chr(plane << 16 | 0xFFFF)}" for plane in range(1, 17))
    + "]"
)


def text_problem(text: str, multiline: bool = False) -> str | None:
    """R4a: why ``text`` cannot be stored (a lone surrogate, a control character, a Unicode
    noncharacter), in Vietnamese, or None when it can."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Chứa ký tự Unicode không hợp lệ (surrogate đơn lẻ)."
    pattern = _CONTROL_MULTILINE if multiline else _CONTROL
    if pattern.search(text):
        return "Chứa ký tự điều khiển không được phép."
    if _NONCHARACTER.search(text):
        return "Chứa ký tự không phải là ký tự Unicode hợp lệ (noncharacter)."
    return None
