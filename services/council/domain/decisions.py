"""R8, R14: recognition decisions, numbered per issuing unit per year."""

from __future__ import annotations


def decision_number(seq: int, issuer: str) -> str:
    """The number of the ``seq``-th decision of ``issuer`` in a year: ``"3/QĐ-CAH-DM"``."""
    return f"{seq}/QĐ-{issuer}"
