"""R16: the running figures ("since 2021-09-01 the province has recognised N deeds").

The province's figure counts the deeds inscribed in the provincial golden book (R14: what the
provincial council selected each quarter, as the article's "40 by November 2022" does); the
recognitions of the units' own books (R8) are given beside it. Revoked entries never count.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from services.book.domain.entries import INSCRIPTION, REVOCATION, period_of, quarter_of


def _tally(rows: list[Mapping[str, Any]], units: Iterable[str]) -> dict[str, Any]:
    by_quarter: dict[str, int] = {}
    by_unit: dict[str, int] = dict.fromkeys(units, 0)
    deeds: set[str] = set()
    for e in rows:
        deed = e.get("deed") or {}
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
    entries: Iterable[Mapping[str, Any]],
    *,
    province_book: str,
    units: Iterable[str],
    since: str,
) -> dict[str, Any]:
    """The figures over every book's decoded entries (``book``, ``seq``, ``kind``, ``revokes``,
    ``deed``, ``tally``)."""
    entries = list(entries)
    units = list(units)
    revoked = {(e["book"], e["revokes"]) for e in entries if e["kind"] == REVOCATION}
    standing = [e for e in entries if e["kind"] == INSCRIPTION and (e["book"], e["seq"]) not in revoked]
    province = _tally([e for e in standing if e["book"] == province_book], units)
    unit_books = _tally([e for e in standing if e["book"] != province_book], units)
    return {
        "since": since,
        "province_total": province["total"],
        "by_quarter": province["by_quarter"],
        "by_unit": province["by_unit"],
        "unit_books": unit_books,
    }
