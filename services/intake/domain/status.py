"""A deed's status moves only forward (API.md, intake): what other services tell intake later
never takes a deed back."""

from __future__ import annotations

# not_selected ranks below recognised: a deed not selected in a monthly round may still be
# recognised by a supplementary round (R9), while a recognised deed that loses a later round
# keeps its status (API.md). A referred deed (R17a) is in the provincial council's hands until it
# decides; revoked (R15a) is final, whatever is told later.
ORDER = ("recorded", "introduced", "in_round", "referred", "not_selected", "recognised", "proposed", "inscribed",
         "revoked")
_RANK = {s: i for i, s in enumerate(ORDER)}


def advance(current: str, proposed: str) -> str:
    """The status after being told ``proposed``: it, when it moves forward; else ``current``."""
    if proposed not in _RANK:
        return current
    return proposed if _RANK[proposed] > _RANK.get(current, -1) else current


def status_after_entry(deed_unit: str, book: str, kind: str) -> str | None:
    """The status a book entry implies: a unit book's inscription is recognition (R8), any other
    book is the provincial one (R14); a revocation in any book revokes the deed (R15a)."""
    if kind == "revocation":
        return "revoked"
    if kind != "inscription":
        return None
    return "recognised" if book == deed_unit else "inscribed"
