"""Who may record, read and introduce which deeds (API.md, intake; SPEC R2, R5).

An actor is a token's role and subject; the scope follows from the organisation.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.org import Organisation

RECORDERS = ("officer", "subunit_lead", "unit_secretary")
BATCH_RECORDERS = ("subunit_lead", "unit_secretary")
INTRODUCERS = ("subunit_lead", "unit_secretary")
READERS = ("officer", "subunit_lead", "unit_secretary", "council_member", "province_secretary")


@dataclass(frozen=True)
class Actor:
    role: str
    subject: str


def actor_unit(org: Organisation, actor: Actor) -> str | None:
    """The unit an actor belongs to (None for the province and for strangers)."""
    if actor.role == "unit_secretary":
        return org.unit_led_by(actor.subject)
    if actor.role == "subunit_lead":
        sub = org.subunit_led_by(actor.subject)
        return org.subunits[sub].unit if sub else None
    if actor.role in ("officer", "council_member"):
        unit = org.unit_of_officer(actor.subject)
        return unit if unit in org.units else None
    return None


def may_record(org: Organisation, actor: Actor, author: dict[str, str]) -> bool:
    """R2: an officer records their own deeds; a sub-unit lead its officers' and its collective's;
    a unit secretary its unit's (officers of its sub-units, those directly under it, collectives)."""
    officer = author.get("officer")
    collective = author.get("collective")
    if actor.role == "officer":
        return officer == actor.subject
    if actor.role == "subunit_lead":
        sub = org.subunit_led_by(actor.subject)
        if sub is None:
            return False
        if officer is not None:
            o = org.officers.get(officer)
            return o is not None and o.subunit == sub
        return collective == sub
    if actor.role == "unit_secretary":
        unit = org.unit_led_by(actor.subject)
        if unit is None:
            return False
        placed = org.author_unit(author)
        return placed is not None and placed[0] == unit
    return False


def may_read(org: Organisation, actor: Actor, deed_unit: str) -> bool:
    """Anyone in the deed's unit, and the province secretary."""
    if actor.role == "province_secretary":
        return actor.subject == org.province_secretary
    if actor.role not in READERS:
        return False
    return actor_unit(org, actor) == deed_unit


def may_see_beneficiaries(org: Organisation, actor: Actor, author: dict[str, str], deed_unit: str,
                          deed_subunit: str | None) -> bool:
    """R2a: a deed's beneficiaries (citizens' names) are for its author, the lead who introduces
    it (the lead of its sub-unit) and its unit's secretary; for no other reader — officers of
    the unit, council members, the province."""
    if author.get("officer") is not None and author.get("officer") == actor.subject and actor.role in READERS:
        return True  # the author, whichever of their roles they read with
    return may_introduce(org, actor, deed_unit, deed_subunit)


def may_introduce(org: Organisation, actor: Actor, deed_unit: str, deed_subunit: str | None) -> bool:
    """R5: the lead of the deed's sub-unit, or the secretary of its unit (who alone introduces
    the deeds of officers directly under the unit)."""
    if actor.role == "subunit_lead":
        sub = org.subunit_led_by(actor.subject)
        return sub is not None and sub == deed_subunit
    if actor.role == "unit_secretary":
        return org.unit_led_by(actor.subject) == deed_unit
    return False


def may_see_candidate_evidence(org: Organisation, actor: Actor, deed_unit: str, status: str) -> bool:
    """Council members see a deed's evidence while it is a candidate of their council: the unit
    council while the deed is in its monthly round, the provincial council once proposed."""
    if actor.role != "council_member":
        return False
    if status == "in_round":
        council = org.council_of_unit(deed_unit)
    elif status == "proposed":
        council = org.provincial_council
    else:
        return False
    return council is not None and actor.subject in council.members
