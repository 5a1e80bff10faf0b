"""The organisation (format ``sovang-org/1``): province, units, sub-units, officers, councils.

Every service keeps its own copy of the loaded document and reads it through this pure model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from shared.text import storable_problem

FORMAT = "sovang-org/1"
ROLES = (
    "officer",
    "subunit_lead",
    "unit_secretary",
    "council_member",
    "province_secretary",
    "press",
    "admin",
)


class OrgError(ValueError):
    """The organisation document is malformed."""


class OrgRefused(ValueError):
    """R25: a well-formed organisation that cannot replace the one loaded (it would orphan an
    open round, or reopen a closed book); ``problems`` says why, in Vietnamese. Nothing is written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Council:
    code: str
    members: tuple[str, ...]
    threshold_percent: int
    base: str
    unit: str  # the unit code, or the province code for the provincial council
    secretary: str
    cap_per_quarter: int | None = None

    @property
    def provincial(self) -> bool:
        return self.cap_per_quarter is not None


@dataclass(frozen=True)
class Subunit:
    code: str
    name: str
    kind: str
    unit: str
    lead: str


@dataclass(frozen=True)
class Unit:
    code: str
    name: str
    kind: str
    secretary: str
    council: str
    subunits: tuple[str, ...]


@dataclass(frozen=True)
class Officer:
    code: str
    name: str
    rank: str
    unit: str
    subunit: str | None


@dataclass
class Organisation:
    """Lookups over one loaded organisation document."""

    document: dict[str, Any]
    programme_name: str = ""
    since: str = "2021-09-01"
    province_code: str = ""
    province_name: str = ""
    province_secretary: str = ""
    press: str = ""
    units: dict[str, Unit] = field(default_factory=dict)
    subunits: dict[str, Subunit] = field(default_factory=dict)
    officers: dict[str, Officer] = field(default_factory=dict)
    councils: dict[str, Council] = field(default_factory=dict)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Organisation:
        try:
            return cls._parse(doc)
        except (KeyError, TypeError, AttributeError) as exc:
            raise OrgError(f"malformed organisation document: {exc!r}") from exc

    @classmethod
    def loadable(cls, doc: dict[str, Any]) -> Organisation:
        """A document as it may be loaded: well formed, and R4a's text in every name and code
        (they reach every page, feed and certificate). Documents already stored are only
        parsed (``from_document``), so that no later rule takes a running service down."""
        org = cls.from_document(doc)
        problem = storable_problem(doc)
        if problem:
            raise OrgError(f"text that cannot be stored at {problem}")
        return org

    @classmethod
    def _parse(cls, doc: dict[str, Any]) -> Organisation:
        if doc.get("format") != FORMAT:
            raise OrgError(f"format must be {FORMAT!r}")
        prov = doc["province"]
        org = cls(
            document=doc,
            programme_name=doc["programme"]["name"],
            since=doc["programme"]["since"],
            province_code=prov["code"],
            province_name=prov["name"],
            province_secretary=prov["secretary"],
            press=prov["press"],
        )
        pc = prov["council"]
        org.councils[pc["code"]] = Council(
            code=pc["code"],
            members=tuple(pc["members"]),
            threshold_percent=int(pc.get("threshold_percent", 80)),
            base=pc.get("base", "entitled"),
            unit=prov["code"],
            secretary=prov["secretary"],
            cap_per_quarter=int(pc.get("cap_per_quarter", 20)),
        )
        for u in doc["units"]:
            c = u["council"]
            org.councils[c["code"]] = Council(
                code=c["code"],
                members=tuple(c["members"]),
                threshold_percent=int(c.get("threshold_percent", 80)),
                base=c.get("base", "entitled"),
                unit=u["code"],
                secretary=u["secretary"],
            )
            for s in u["subunits"]:
                org.subunits[s["code"]] = Subunit(s["code"], s["name"], s["kind"], u["code"], s["lead"])
            org.units[u["code"]] = Unit(
                code=u["code"],
                name=u["name"],
                kind=u["kind"],
                secretary=u["secretary"],
                council=c["code"],
                subunits=tuple(s["code"] for s in u["subunits"]),
            )
        for o in doc["officers"]:
            org.officers[o["code"]] = Officer(o["code"], o["name"], o.get("rank", ""), o["unit"], o.get("subunit"))
        return org

    @staticmethod
    def digest(doc: dict[str, Any]) -> str:
        """A stable fingerprint of a document: loading the same file twice changes nothing."""
        canonical = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    # -- who is who ---------------------------------------------------------------------------
    def unit_of_officer(self, code: str) -> str | None:
        o = self.officers.get(code)
        return o.unit if o else None

    def unit_led_by(self, officer: str) -> str | None:
        """The unit whose secretary this officer is."""
        return next((u.code for u in self.units.values() if u.secretary == officer), None)

    def subunit_led_by(self, officer: str) -> str | None:
        return next((s.code for s in self.subunits.values() if s.lead == officer), None)

    def councils_of(self, officer: str) -> list[str]:
        return [c.code for c in self.councils.values() if officer in c.members]

    def council_of_unit(self, unit: str) -> Council | None:
        if unit == self.province_code:
            return self.provincial_council
        u = self.units.get(unit)
        return self.councils.get(u.council) if u else None

    @property
    def provincial_council(self) -> Council:
        return next(c for c in self.councils.values() if c.provincial)

    def holds_role(self, role: str, subject: str) -> bool:
        """Whether a token for ``role`` may be issued to ``subject`` (API.md, Common)."""
        if role == "admin":
            return bool(subject)
        if role == "press":
            return subject == self.press
        if subject not in self.officers:
            return False
        if role == "officer":
            return True
        if role == "subunit_lead":
            return self.subunit_led_by(subject) is not None
        if role == "unit_secretary":
            return self.unit_led_by(subject) is not None
        if role == "council_member":
            return bool(self.councils_of(subject))
        if role == "province_secretary":
            return subject == self.province_secretary
        return False

    def author_unit(self, author: dict[str, str]) -> tuple[str, str | None] | None:
        """(unit, sub-unit) of a deed's author, ``{"officer": code}`` or ``{"collective": code}``."""
        if "officer" in author:
            o = self.officers.get(author["officer"])
            return (o.unit, o.subunit) if o and o.unit in self.units else None
        code = author.get("collective")
        if code in self.subunits:
            return self.subunits[code].unit, code
        if code in self.units:
            return code, None
        return None

    def author_name(self, author: dict[str, str]) -> str:
        if "officer" in author:
            o = self.officers.get(author["officer"])
            return f"{o.rank} {o.name}".strip() if o else author["officer"]
        code = author.get("collective", "")
        if code in self.subunits:
            return self.subunits[code].name
        if code in self.units:
            return self.units[code].name
        return code

    def collective_members(self, code: str) -> set[str]:
        """R17: the officers of a collective author (a sub-unit, or a unit with all its sub-units)."""
        if code in self.subunits:
            return {o.code for o in self.officers.values() if o.subunit == code}
        if code in self.units:
            return {o.code for o in self.officers.values() if o.unit == code}
        return set()

    def book_codes(self) -> set[str]:
        """R25: the golden books this organisation writes: one per unit, and the province's."""
        return {self.province_code, *self.units}

    def unit_name(self, code: str) -> str:
        if code == self.province_code:
            return self.province_name
        u = self.units.get(code)
        return u.name if u else code
