"""R15, R15a, R16: what an entry of a golden book holds, and the rules of revocation.

An inscription holds a frozen copy of the deed's public fields as voted (never its
beneficiaries), the recognition decision and the tally. A revocation is a new entry naming the
entry it revokes and the reason; the revoked entry stays in the chain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from services.book.domain.chain import nfc, seal
from shared import clock
from shared.refusals import Conflict, NotFound

INSCRIPTION = "inscription"
REVOCATION = "revocation"
KINDS = (INSCRIPTION, REVOCATION)

# API.md, Entry: the deed's public fields, and nothing else ever leaves the book (R16).
PUBLIC_DEED_FIELDS = ("id", "title", "description", "kind", "relation", "occurred_on", "author", "unit")
# ``source``: "paper" for an entry imported from a paper book (R22), absent otherwise.
DECISION_FIELDS = ("number", "date", "issuer", "issuer_name", "source")
TALLY_FIELDS = ("approve", "reject", "abstain", "entitled", "ratio", "round", "round_kind", "period")


@dataclass(frozen=True)
class Entry:
    """R15: an entry of a golden book as the chain seals it, its nested parts as values (an
    inscription's deed, decision and tally; a revocation's deed id, decision and reason)."""

    book: str
    seq: int
    kind: str
    revokes: int | None
    reason: str | None
    deed: dict[str, Any]
    decision: dict[str, Any] | None
    tally: dict[str, Any] | None
    inscribed_at: str  # as the chain writes it (``instant_text``)
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, fields: Mapping[str, Any]) -> Entry:
        """The entry of sealed fields (``inscription``, ``revocation``, a stored row decoded)."""
        return cls(**{name: fields[name] for name in ENTRY_FIELDS})

    def fields(self) -> dict[str, Any]:
        """The entry's fields by name (what the chain hashes, and ``hash``)."""
        return asdict(self)

    @property
    def deed_id(self) -> Any:
        return (self.deed or {}).get("id")


ENTRY_FIELDS = ("book", "seq", "kind", "revokes", "reason", "deed", "decision", "tally", "inscribed_at",
                "prev_hash", "hash")


def public_deed(copy: Mapping[str, Any], author_name: str | None = None) -> dict[str, Any]:
    """R16: the frozen public copy of a deed: whitelisted fields, author with display name."""
    deed = {name: copy[name] for name in PUBLIC_DEED_FIELDS if name != "author"}
    author_in = copy.get("author") or {}
    author: dict[str, Any] = {}
    for key in ("officer", "collective"):
        if author_in.get(key):
            author[key] = author_in[key]
            break
    author["name"] = author_in.get("name") or author_name or author.get("officer") or author.get("collective") or ""
    deed["author"] = author
    return nfc(deed)


def _pick(data: Mapping[str, Any] | None, names: tuple[str, ...]) -> dict[str, Any]:
    data = data or {}
    return {name: data[name] for name in names if name in data}


def instant_text(instant: dt.datetime) -> str:
    """How an entry's instant is written: ISO 8601, Asia/Ho_Chi_Minh offset, full precision."""
    return clock.local(instant).isoformat()


def inscription(
    *,
    book: str,
    seq: int,
    prev_hash: str,
    deed: Mapping[str, Any],
    decision: Mapping[str, Any],
    tally: Mapping[str, Any],
    at: dt.datetime,
) -> dict[str, Any]:
    """R8, R14, R15: the sealed fields of a new inscription (``deed`` already public)."""
    return seal(
        {
            "book": book,
            "seq": seq,
            "kind": INSCRIPTION,
            "revokes": None,
            "reason": None,
            "deed": dict(deed),
            "decision": _pick(decision, DECISION_FIELDS),
            "tally": _pick(tally, TALLY_FIELDS),
            "inscribed_at": instant_text(at),
            "prev_hash": prev_hash,
        }
    )


def check_revocable(code: str, seq: int, target: Entry | None, revoked_by: int | None) -> Entry:
    """R15a: only an inscription not yet revoked can be revoked (``NotFound`` for no entry
    ``seq``, ``Conflict`` otherwise); returns it."""
    if target is None:
        raise NotFound(f"Sổ vàng {code} không có mục số {seq}.")
    if target.kind != INSCRIPTION:
        raise Conflict(f"Mục số {target.seq} là một mục thu hồi, không thể thu hồi.")
    if revoked_by is not None:
        raise Conflict(f"Mục số {target.seq} đã bị thu hồi (mục số {revoked_by}).")
    return target


def revocation(
    *,
    book: str,
    seq: int,
    prev_hash: str,
    target: Entry,
    reason: str,
    decision: Mapping[str, Any],
    at: dt.datetime,
) -> dict[str, Any]:
    """R15a: the sealed fields of a revocation of ``target`` (an inscription of the same book)."""
    deed = target.deed or {}
    return seal(
        {
            "book": book,
            "seq": seq,
            "kind": REVOCATION,
            "revokes": target.seq,
            "reason": reason,
            # The revocation names the deed, and republishes none of it.
            "deed": {"id": deed.get("id"), "unit": deed.get("unit")},
            "decision": dict(decision),
            "tally": None,
            "inscribed_at": instant_text(at),
            "prev_hash": prev_hash,
        }
    )


def period_of(entry: Entry | Mapping[str, Any]) -> str | None:
    """The period (``YYYY-MM`` or ``YYYY-Qn``) of the round that recognised an inscription (an
    entry, or its sealed fields before it is one)."""
    if isinstance(entry, Entry):
        tally, deed = entry.tally or {}, entry.deed or {}
    else:
        tally, deed = entry.get("tally") or {}, entry.get("deed") or {}
    period = tally.get("period")
    if isinstance(period, str):
        return period
    occurred = deed.get("occurred_on")
    return occurred[:7] if isinstance(occurred, str) and len(occurred) >= 7 else None


def quarter_of(period: str | None) -> str | None:
    """The quarter ``YYYY-Qn`` that a month or a quarter belongs to."""
    if not period:
        return None
    try:
        return str(clock.Quarter.parse(period))
    except ValueError:
        pass
    try:
        return str(clock.Month.parse(period).quarter)
    except ValueError:
        return None


def period_matches(own: str | None, period: str) -> bool:
    """Whether an entry of period ``own`` belongs to a month's or a quarter's honour roll."""
    if own is None:
        return False
    if own == period:
        return True
    return "Q" in period and quarter_of(own) == period


def indexed_fields(entry: Mapping[str, Any]) -> dict[str, Any]:
    """What an entry's row repeats of its decoded parts so that publications find it by index:
    its period (``period_of``), that period's quarter, and the deed's id and unit."""
    deed = entry.get("deed") or {}
    period = period_of(entry)
    deed_id, unit = deed.get("id"), deed.get("unit")
    return {
        "period": period,
        "quarter": quarter_of(period),
        "deed_id": None if deed_id is None else str(deed_id),
        "unit": None if unit is None else str(unit),
    }
