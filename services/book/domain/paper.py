"""R22: the paper books kept before the system, read for import (format ``sovang-paper-book/1``).

``{"format", "book": CODE, "entries": [{"decision": {"number", "date"}, "inscribed_on",
"deed": {"title", "description", "kind", "relation", "occurred_on", "author": {"officer": CODE} |
{"collective": CODE} | {"name": TEXT}, "unit"}, "tally": {"approve", "entitled"}}]}``, in book
order (API.md). ``read`` checks the whole document and names every problem by its place
(``entries[3].deed.title``), in Vietnamese: an import is all or nothing. R3 (how late a deed may be
recorded) does not apply to what the paper book holds; R4a (what text may be stored) does.

Each entry becomes an inscription like any other (R15), whose decision says it comes from the
paper book (``"source": "paper"``, covered by the hash), with its original decision number, date
and tally; its deed gets an id derived from the book and its place in it, so the same file always
makes the same entries.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared.text import text_problem

FORMAT = "sovang-paper-book/1"
PAPER = "paper"
SYSTEM = "system"
MAX_ENTRIES = 10_000
KINDS = ("good_deed", "achievement", "feat", "exemplar")
RELATIONS = ("direct", "indirect")
_DEED_IDS = uuid.UUID("6f1d2c1e-5a0b-4f4e-9a57-2b0c3d6e8f10")  # the namespace of paper deeds' ids

_FIELDS = {
    "": {"format", "book", "entries"},
    "entry": {"decision", "inscribed_on", "deed", "tally"},
    "decision": {"number", "date"},
    "deed": {"title", "description", "kind", "relation", "occurred_on", "author", "unit"},
    "author": {"officer", "collective", "name"},
    "tally": {"approve", "entitled"},
}


@dataclass(frozen=True)
class PaperEntry:
    """One entry of the paper book, checked: what its inscription will hold."""

    deed: dict[str, Any]  # the public copy (``public_deed`` gives the author a display name)
    decision: dict[str, Any]
    tally: dict[str, Any]
    inscribed_on: dt.date


@dataclass(frozen=True)
class PaperBook:
    book: str
    entries: list[PaperEntry]


class PaperBookInvalid(ValueError):
    """The document cannot be imported; ``errors`` names every problem by its place."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def source_of(decision: Mapping[str, Any] | None) -> str:
    """R22: ``paper`` for an entry imported from a paper book, else ``system``."""
    return PAPER if (decision or {}).get("source") == PAPER else SYSTEM


def deed_id(book: str, seq: int) -> str:
    """The id of the deed of entry ``seq`` of a paper book (the same for the same file)."""
    return str(uuid.uuid5(_DEED_IDS, f"{book}:{seq}"))


class _Reader:
    def __init__(self, since: dt.date, today: dt.date) -> None:
        self.since = since
        self.today = today
        self.errors: dict[str, list[str]] = {}

    def bad(self, where: str, why: str) -> None:
        self.errors.setdefault(where or "(tệp)", []).append(why)

    def obj(self, value: Any, where: str, kind: str) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.bad(where, "Phải là một đối tượng JSON.")
            return None
        for name in sorted(set(value) - _FIELDS[kind]):
            self.bad(f"{where}.{name}" if where else name, "Trường không được phép.")
        return value

    def text(self, value: Any, where: str, low: int, high: int, multiline: bool = False) -> str | None:
        if not isinstance(value, str):
            self.bad(where, "Bắt buộc, là chuỗi ký tự.")
            return None
        problem = text_problem(value, multiline=multiline)
        if problem:
            self.bad(where, problem)
            return None
        value = unicodedata.normalize("NFC", value.strip())
        if not low <= len(value) <= high:
            self.bad(where, f"Từ {low} đến {high} ký tự.")
            return None
        return value

    def date(self, value: Any, where: str) -> dt.date | None:
        if not isinstance(value, str) or len(value) != 10:
            self.bad(where, "Bắt buộc, là ngày YYYY-MM-DD.")
            return None
        try:
            day = dt.date.fromisoformat(value)
        except ValueError:
            self.bad(where, "Không phải một ngày có thật (YYYY-MM-DD).")
            return None
        if day > self.today:
            self.bad(where, "Ngày ở tương lai.")
            return None
        return day

    def count(self, value: Any, where: str, low: int) -> int | None:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= 10_000:
            self.bad(where, f"Bắt buộc, là số nguyên từ {low}.")
            return None
        return value

    def one_of(self, value: Any, where: str, allowed: tuple[str, ...]) -> str | None:
        if value not in allowed:
            self.bad(where, f"Phải là một trong: {', '.join(allowed)}.")
            return None
        return value

    def author(self, value: Any, where: str) -> dict[str, str] | None:
        author = self.obj(value, where, "author")
        if author is None:
            return None
        given = [k for k in ("officer", "collective", "name") if k in author]
        if len(given) != 1:
            self.bad(where, "Ghi đúng một trong officer (mã cán bộ), collective (mã tập thể) hoặc name (họ tên).")
            return None
        key = given[0]
        found = self.text(author[key], f"{where}.{key}", 1, 32 if key != "name" else 200)
        return {key: found} if found is not None else None

    def entry(self, raw: Any, where: str, seq: int, book: str) -> PaperEntry | None:
        entry = self.obj(raw, where, "entry")
        if entry is None:
            return None
        before = sum(len(v) for v in self.errors.values())
        decision = self.obj(entry.get("decision"), f"{where}.decision", "decision") or {}
        number = self.text(decision.get("number"), f"{where}.decision.number", 1, 100)
        decided = self.date(decision.get("date"), f"{where}.decision.date")
        inscribed = self.date(entry.get("inscribed_on"), f"{where}.inscribed_on")
        deed = self.obj(entry.get("deed"), f"{where}.deed", "deed") or {}
        title = self.text(deed.get("title"), f"{where}.deed.title", 1, 200)
        description = self.text(deed.get("description"), f"{where}.deed.description", 1, 10_000, multiline=True)
        kind = self.one_of(deed.get("kind"), f"{where}.deed.kind", KINDS)
        relation = self.one_of(deed.get("relation"), f"{where}.deed.relation", RELATIONS)
        occurred = self.date(deed.get("occurred_on"), f"{where}.deed.occurred_on")
        author = self.author(deed.get("author"), f"{where}.deed.author")
        unit = self.text(deed.get("unit"), f"{where}.deed.unit", 1, 32)
        tally = self.obj(entry.get("tally"), f"{where}.tally", "tally") or {}
        approve = self.count(tally.get("approve"), f"{where}.tally.approve", 0)
        entitled = self.count(tally.get("entitled"), f"{where}.tally.entitled", 1)
        if approve is not None and entitled is not None and approve > entitled:
            self.bad(f"{where}.tally.approve", "Số tán thành vượt số thành viên có quyền biểu quyết.")
        if occurred and decided and occurred > decided:
            self.bad(f"{where}.deed.occurred_on", "Việc tốt xảy ra sau ngày quyết định công nhận.")
        if decided and inscribed and decided > inscribed:
            self.bad(f"{where}.inscribed_on", "Ngày ghi sổ trước ngày quyết định công nhận.")
        if inscribed and inscribed < self.since:
            self.bad(f"{where}.inscribed_on", f"Trước khi phong trào bắt đầu ({self.since:%d/%m/%Y}).")
        if sum(len(v) for v in self.errors.values()) > before:
            return None
        assert number and decided and inscribed and title and description and kind and relation  # noqa: S101
        assert occurred and author and unit and approve is not None and entitled is not None  # noqa: S101
        return PaperEntry(
            deed={
                "id": deed_id(book, seq), "title": title, "description": description, "kind": kind,
                "relation": relation, "occurred_on": occurred.isoformat(), "author": author, "unit": unit,
            },
            decision={"number": number, "date": decided.isoformat(), "source": PAPER},
            tally={"approve": approve, "entitled": entitled, "ratio": f"{approve}/{entitled}",
                   "round_kind": PAPER, "period": decided.isoformat()[:7]},
            inscribed_on=inscribed,
        )


def read(document: Any, since: dt.date, today: dt.date) -> PaperBook:
    """R22: a ``sovang-paper-book/1`` document checked whole; raises ``PaperBookInvalid`` naming
    every problem. ``since`` is the programme's first day, ``today`` the local date."""
    r = _Reader(since, today)
    doc = r.obj(document, "", "")
    if doc is None:
        raise PaperBookInvalid(r.errors)
    if doc.get("format") != FORMAT:
        r.bad("format", f"Phải là {FORMAT!r}.")
    book = r.text(doc.get("book"), "book", 1, 32)
    raw = doc.get("entries")
    if not isinstance(raw, list) or not raw:
        r.bad("entries", "Bắt buộc, là danh sách các mục theo thứ tự trong sổ (ít nhất một mục).")
        raw = []
    elif len(raw) > MAX_ENTRIES:
        r.bad("entries", f"Nhiều nhất {MAX_ENTRIES} mục mỗi lần nhập.")
        raw = []
    found: list[PaperEntry] = []
    for n, item in enumerate(raw):
        entry = r.entry(item, f"entries[{n}]", n + 1, book or "")
        if entry is not None:
            if found and entry.inscribed_on < found[-1].inscribed_on:
                r.bad(f"entries[{n}].inscribed_on", "Các mục phải theo thứ tự ghi sổ: mục này ghi trước mục đứng trước nó.")
            found.append(entry)
    if r.errors:
        raise PaperBookInvalid(r.errors)
    assert book is not None  # noqa: S101
    return PaperBook(book, found)
