"""R15: the hash chain of a golden book.

Each entry is sealed by SHA-256 over its canonical form: its fields (including the hash of the
entry before it) as canonical JSON — keys sorted, no whitespace, UTF-8, every string in Unicode
NFC. A stored entry verifies when its nested parts are stored in that very canonical form, its
text is NFC, its hash is that of its fields, it follows the entry before it, and the book's
recorded count and head agree with its last entry; ``verify`` names the first entry that fails.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

FORMAT = "sovang-entry/1"
GENESIS = "0" * 64
HASHED = ("book", "seq", "kind", "revokes", "reason", "deed", "decision", "tally", "inscribed_at", "prev_hash")
# Parts of an entry stored as canonical JSON text (the rest are plain columns).
NESTED = ("deed", "decision", "tally")


class NotCanonical(ValueError):
    """A value the canonical form cannot hold (floats, non-string keys, other types)."""


def nfc(value: Any) -> Any:
    """R4: every string of a JSON-like value, keys included, in Unicode NFC."""
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, Mapping):
        return {nfc(k): nfc(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [nfc(v) for v in value]
    return value


def _check(value: Any) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise NotCanonical(f"key {k!r} is not a string")
            _check(v)
        return
    if isinstance(value, list | tuple):
        for v in value:
            _check(v)
        return
    # Floats have no single spelling across languages; the book holds none.
    raise NotCanonical(f"{type(value).__name__} has no canonical form")


def canonical_text(value: Any) -> str:
    """The canonical JSON text of a value: NFC, sorted keys, no whitespace."""
    _check(value)
    return json.dumps(nfc(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def canonical(value: Any) -> bytes:
    return canonical_text(value).encode("utf-8")


def is_nfc(value: Any) -> bool:
    if isinstance(value, str):
        return unicodedata.is_normalized("NFC", value)
    if isinstance(value, Mapping):
        return all(is_nfc(k) and is_nfc(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(is_nfc(v) for v in value)
    return True


def sealed_form(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What the hash covers: the hashed fields of an entry and the format tag."""
    return {"format": FORMAT, **{name: fields.get(name) for name in HASHED}}


def entry_hash(fields: Mapping[str, Any]) -> str:
    """R15: SHA-256 (hex) of the canonical form of an entry, ``prev_hash`` included."""
    return hashlib.sha256(canonical(sealed_form(fields))).hexdigest()


def seal(fields: Mapping[str, Any]) -> dict[str, Any]:
    """An entry's fields in NFC with their ``hash``."""
    body = nfc({name: fields.get(name) for name in HASHED})
    return {**body, "hash": entry_hash(body)}


# -- verification -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Verdict:
    valid: bool
    entries: int
    head: str | None
    first_bad_seq: int | None = None
    problem: str | None = None


def _parse_nested(raw: str | None) -> Any:
    """A nested part as stored; it must be exactly its canonical text."""
    if raw is None:
        return None
    value = json.loads(raw)
    if canonical_text(value) != raw:
        raise NotCanonical("not stored in canonical form")
    return value


def stored_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a stored entry (nested parts as canonical JSON text) for hashing."""
    fields = {name: row.get(name) for name in HASHED}
    for name in NESTED:
        fields[name] = _parse_nested(row.get(name))
    return fields


def _problem(row: Mapping[str, Any], expected_seq: int, book: str, expected_prev: str) -> str | None:
    """Why one stored entry breaks the chain, or None when it holds."""
    if row.get("seq") != expected_seq:
        return f"thiếu mục số {expected_seq} (gặp mục số {row.get('seq')})"
    if row.get("book") != book:
        return f"mục số {expected_seq} ghi sổ {row.get('book')!r}, không phải {book!r}"
    try:
        fields = stored_fields(row)
    except (ValueError, NotCanonical):
        return f"nội dung mục số {expected_seq} không ở dạng chuẩn (JSON chuẩn tắc)"
    if not is_nfc(fields):
        return f"văn bản mục số {expected_seq} không ở dạng Unicode NFC"
    if row.get("prev_hash") != expected_prev:
        return f"mục số {expected_seq} không nối tiếp mục trước (prev_hash sai)"
    if entry_hash(fields) != row.get("hash"):
        return f"mã băm của mục số {expected_seq} không khớp với nội dung"
    if fields["kind"] == "revocation" and not (
        isinstance(fields["revokes"], int) and 1 <= fields["revokes"] < expected_seq
    ):
        return f"mục thu hồi số {expected_seq} không chỉ tới một mục trước nó"
    return None


def verify(
    book: str,
    rows: Iterable[Mapping[str, Any]],
    recorded_entries: int | None = None,
    recorded_head: str | None = None,
) -> Verdict:
    """R15: check a book's stored entries, in ``seq`` order, against the chain.

    ``rows`` hold the stored columns (nested parts as their stored JSON text);
    ``recorded_entries`` and ``recorded_head`` are what the book itself records, so that an
    entry deleted at the end (truncation) is found too.
    """
    expected_prev = GENESIS
    count = 0
    kinds: dict[int, str] = {}
    revoked: set[int] = set()
    for row in rows:
        expected_seq = count + 1
        why = _problem(row, expected_seq, book, expected_prev)
        if why is None and row.get("kind") == "revocation":
            target = row.get("revokes")
            if kinds.get(target) != "inscription":
                why = f"mục thu hồi số {expected_seq} không chỉ tới một mục ghi danh"
            elif target in revoked:
                why = f"mục số {target} bị thu hồi hai lần (mục số {expected_seq})"
            revoked.add(target)
        if why is not None:
            return Verdict(False, _count(recorded_entries, count), recorded_head, expected_seq, why)
        kinds[expected_seq] = row["kind"]
        expected_prev = row["hash"]
        count = expected_seq
    head = expected_prev if count else None
    if recorded_entries is not None and recorded_entries != count:
        first_bad = min(count, recorded_entries) + 1
        why = (
            f"sổ ghi {recorded_entries} mục nhưng chỉ còn {count} mục"
            if recorded_entries > count
            else f"có mục số {first_bad} ngoài số mục sổ đã ghi ({recorded_entries})"
        )
        return Verdict(False, recorded_entries, recorded_head, first_bad, why)
    if recorded_entries is not None and recorded_head != head:
        return Verdict(False, count, recorded_head, count or 1, "đầu chuỗi của sổ không khớp với mục cuối")
    return Verdict(True, count, head)


def _count(recorded: int | None, seen: int) -> int:
    return recorded if recorded is not None else seen
