"""R16: the running figures ("since 2021-09-01 the province has recognised N deeds").

The province's figure counts the deeds inscribed in the provincial golden book (R14: what the
provincial council selected each quarter, as the article's "40 by November 2022" does); the
recognitions of the units' own books (R8) are given beside it. Revoked entries never count.

``figures`` recounts every entry (the reference); ``figures_from_counts`` gives the same document
from the counts that inscriptions and revocations keep (``figure_counts``), which is what is
published.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.book.domain.entries import INSCRIPTION, REVOCATION, Entry, period_of, quarter_of


def _tally(rows: list[Entry], units: Iterable[str]) -> dict[str, Any]:
    by_quarter: dict[str, int] = {}
    by_unit: dict[str, int] = dict.fromkeys(units, 0)
    deeds: set[str] = set()
    for e in rows:
        deed = e.deed or {}
        deed_id = deed.get("id")
        if deed_id in deeds:
            continue  # a deed recognised twice in the same books counts once
        deeds.add(deed_id)
        quarter = quarter_of(period_of(e))
        if quarter:
            by_quarter[quarter] = by_quarter.get(quarter, 0) + 1
        unit = deed.get("unit")
        if unit:
            by_unit[unit] = by_unit.get(unit, 0) + 1
    return {"total": len(deeds), "by_quarter": dict(sorted(by_quarter.items())), "by_unit": by_unit}


def figures(
    entries: Iterable[Entry],
    *,
    province_book: str,
    units: Iterable[str],
    since: str,
) -> dict[str, Any]:
    """The figures over every book's entries."""
    entries = list(entries)
    units = list(units)
    revoked = {(e.book, e.revokes) for e in entries if e.kind == REVOCATION}
    standing = [e for e in entries if e.kind == INSCRIPTION and (e.book, e.seq) not in revoked]
    province = _tally([e for e in standing if e.book == province_book], units)
    unit_books = _tally([e for e in standing if e.book != province_book], units)
    return {
        "since": since,
        "province_total": province["total"],
        "by_quarter": province["by_quarter"],
        "by_unit": province["by_unit"],
        "unit_books": unit_books,
    }


# A deed counts once in each scope: the provincial book, and the units' books together.
PROVINCE_SCOPE = "province"
UNITS_SCOPE = "units"


def scope_of(book_kind: str) -> str:
    return PROVINCE_SCOPE if book_kind == "province" else UNITS_SCOPE


def count_key(deed_id: str | None) -> str:
    """How a deed is named among the counted ones ("" for a deed copy without an id)."""
    return "" if deed_id is None else deed_id


def _from_counts(
    counts: Iterable[tuple[str, str, int]], units: Sequence[str], first_seen: Sequence[str]
) -> dict[str, Any]:
    by_quarter: dict[str, int] = {}
    unit_totals: dict[str, int] = {}
    total = 0
    for quarter, unit, deeds in counts:
        total += deeds
        if quarter:
            by_quarter[quarter] = by_quarter.get(quarter, 0) + deeds
        if unit:
            unit_totals[unit] = unit_totals.get(unit, 0) + deeds
    by_unit: dict[str, int] = dict.fromkeys(units, 0)
    # Units the organisation no longer names follow, in the order the recount meets them.
    for unit in [*units, *first_seen, *sorted(unit_totals)]:
        if unit in unit_totals:
            by_unit[unit] = unit_totals[unit]
    return {"total": total, "by_quarter": dict(sorted(by_quarter.items())), "by_unit": by_unit}


def figures_from_counts(
    counts: Iterable[tuple[str, str, str, int]],
    *,
    units: Iterable[str],
    since: str,
    first_seen: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The figures from ``(scope, quarter, unit, deeds)`` counts (quarter and unit "" when none).

    ``first_seen`` names, per scope, the counted units outside ``units`` in the order of their
    first counted entry by (book, seq): the order the recount adds them in.
    """
    units = list(units)
    first_seen = first_seen or {}
    rows = [c for c in counts if c[3] > 0]
    province = _from_counts(
        [(q, u, n) for s, q, u, n in rows if s == PROVINCE_SCOPE], units, first_seen.get(PROVINCE_SCOPE, ())
    )
    unit_books = _from_counts(
        [(q, u, n) for s, q, u, n in rows if s == UNITS_SCOPE], units, first_seen.get(UNITS_SCOPE, ())
    )
    return {
        "since": since,
        "province_total": province["total"],
        "by_quarter": province["by_quarter"],
        "by_unit": province["by_unit"],
        "unit_books": unit_books,
    }
