"""R15a: who may revoke an entry of which golden book."""

from __future__ import annotations

from shared.org import Organisation


def may_revoke(org: Organisation, role: str, subject: str, book: str) -> bool:
    """The book's unit secretary; the province secretary for the provincial book."""
    if book == org.province_code:
        return role == "province_secretary" and subject == org.province_secretary
    return role == "unit_secretary" and org.unit_led_by(subject) == book
