"""R4a: which text may be stored at all, the same check at every entry point.

Pure (no framework imports): domain modules and schemas of every service call it. What is
refused on the way in is also what publication replaces on the way out (``publishable``): a
book's feeds and pages never trust that everything they hold came through the checks.
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


# Everything ``text_problem`` refuses in multi-line text, in one pass: any surrogate code point
# (in a Python string one is always lone: UTF-8 carries none), controls, noncharacters.
_UNPUBLISHABLE = re.compile(
    "[\ud800-\udfff]|" + _CONTROL_MULTILINE.pattern + "|" + _NONCHARACTER.pattern
)
REPLACEMENT = "\ufffd"


def publishable(text: str) -> tuple[str, int]:
    """R4a: ``text`` with every character ``text_problem`` refuses in multi-line text replaced by
    U+FFFD (so that XML 1.0, JSON in UTF-8 and a PDF can carry it), and how many were."""
    return _UNPUBLISHABLE.subn(REPLACEMENT, text)


def storable_problem(value: object, path: str = "") -> str | None:
    """R4a over a whole JSON-like document: the path and reason of its first string (key or
    value) that cannot be stored as single-line text, or None."""
    if isinstance(value, str):
        problem = text_problem(value)
        return f"{path or '.'}: {problem}" if problem else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            problem = (text_problem(key) if isinstance(key, str) else None)
            if problem:
                return f"{where}: {problem}"
            found = storable_problem(item, where)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for n, item in enumerate(value):
            found = storable_problem(item, f"{path}[{n}]")
            if found:
                return found
    return None


# The same rules as patterns (ECMA-262 and Python alike), for schemas and the OpenAPI document.
# A pattern cannot name the noncharacters of the upper planes portably; ``text_problem`` does.
_REFUSED = r"\u0000-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff"
_REFUSED_MULTILINE = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff"
SINGLE_LINE_PATTERN = f"^[^{_REFUSED}]*$"
MULTILINE_PATTERN = f"^[^{_REFUSED_MULTILINE}]*$"
# Not blank besides: at least one character that is not white space.
SINGLE_LINE_NOT_BLANK_PATTERN = f"^[^{_REFUSED}]*[^\\s{_REFUSED}][^{_REFUSED}]*$"
MULTILINE_NOT_BLANK_PATTERN = f"^[^{_REFUSED_MULTILINE}]*[^\\s{_REFUSED}][^{_REFUSED_MULTILINE}]*$"
