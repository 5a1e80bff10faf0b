"""R4: text is kept in Unicode NFC with its diacritics; search ignores case and diacritics."""

from __future__ import annotations

import re
import unicodedata

from shared.text import text_problem  # noqa: F401 - R4a, the same check everywhere

_WORD = re.compile(r"\w+")
# The Combining Diacritical Marks block: every one is a nonspacing mark (Mn), and they are all
# the marks Vietnamese decomposes into, so a regex removes them without a Python loop per letter.
_MARKS = re.compile("[\u0300-\u036f]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def nfc(text: str) -> str:
    """R4: the NFC form of ``text``, diacritics kept exactly."""
    return unicodedata.normalize("NFC", text)


def fold(text: str) -> str:
    """R4: ``text`` without case or diacritics, for search ("Việc Tốt" → "viec tot")."""
    stripped = _MARKS.sub("", unicodedata.normalize("NFD", text)).replace("đ", "d").replace("Đ", "D")
    if not stripped.isascii():
        # Marks of other scripts, looked up one by one among what is left beyond ASCII.
        stripped = _NON_ASCII.sub(_unless_mark, stripped)
    return stripped.casefold()


def _unless_mark(match: re.Match[str]) -> str:
    ch = match.group()
    return "" if unicodedata.category(ch) == "Mn" else ch


def search_words(query: str) -> list[str]:
    """R4: the folded words of a search query; a deed matches when it holds every one."""
    return _WORD.findall(fold(nfc(query)))


def search_text(*parts: str | None) -> str:
    """R4: what a search looks in (title, description): their folded words, each after one space
    (" cong an nhan dan"), so that the start of a word is a space followed by it."""
    return "".join(" " + word for part in parts if part for word in _WORD.findall(fold(part)))


def search_needles(query: str) -> list[str]:
    """R4: what ``search_text`` must hold for each word of ``query`` to start one of its words:
    "an" finds "an toàn" and "Công an" (" an"), never "Nhân dân" (" nhan dan"). A substring
    test, so that PostgreSQL's trigram index serves it."""
    return [" " + word for word in search_words(query)]


def matches(query: str, *parts: str | None) -> bool:
    """R4: whether every word of ``query`` starts a word of ``parts`` (what the database answers)."""
    haystack = search_text(*parts)
    return all(needle in haystack for needle in search_needles(query))
