"""The organisation a run loads, and the bearer tokens it uses.

The province of the targets: the real units and sub-units of ``shared/data/dak-nong.json``, its
officers completed to 5 000 (new fictional officers spread over the sub-units) and a provincial
council of 25 members (the 11 of the file and 14 provincial officers added).
"""

from __future__ import annotations

import copy
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.auth import new_token, store_token
from shared.config import SERVICES
from shared.db import Database as ServiceDatabase
from shared.org import Organisation

ORG_FILE = Path(__file__).resolve().parent.parent / "shared" / "data" / "dak-nong.json"
OFFICERS = 5000
PROVINCIAL_MEMBERS = 25


def province_document(officers: int = OFFICERS, provincial_members: int = PROVINCIAL_MEMBERS) -> dict[str, Any]:
    doc = copy.deepcopy(json.loads(ORG_FILE.read_text("utf-8")))
    province = doc["province"]["code"]
    existing = {o["code"] for o in doc["officers"]}
    names = itertools.cycle([(o["name"], o.get("rank", "")) for o in doc["officers"]])
    council = doc["province"]["council"]
    n = 100
    while len(council["members"]) < provincial_members:
        code = f"{province}-{n:04d}"
        n += 1
        if code in existing:
            continue
        name, rank = next(names)
        doc["officers"].append({"code": code, "name": name, "rank": rank, "unit": province, "subunit": None})
        council["members"].append(code)
        existing.add(code)
    subunits = [(u["code"], s["code"]) for u in doc["units"] for s in u["subunits"]]
    counters = {u["code"]: 5000 for u in doc["units"]}
    for unit, sub in itertools.cycle(subunits):
        if len(doc["officers"]) >= officers:
            break
        code = f"{unit}-{counters[unit]:04d}"
        counters[unit] += 1
        name, rank = next(names)
        doc["officers"].append({"code": code, "name": name, "rank": rank, "unit": unit, "subunit": sub})
    return doc


@dataclass
class People:
    """Who acts in the run, with a token each (stored in every service's database)."""

    org: Organisation
    tokens: dict[tuple[str, str], str] = field(default_factory=dict)

    def token(self, role: str, subject: str) -> str:
        return self.tokens[(role, subject)]

    def council_members(self) -> set[str]:
        return {m for c in self.org.councils.values() for m in c.members}

    def unit_officers(self, unit: str, in_subunit: bool = True) -> list[str]:
        """Officers of a unit who sit on no council and lead nothing: plain deed authors."""
        busy = self.council_members() | {s.lead for s in self.org.subunits.values()} | {
            u.secretary for u in self.org.units.values()}
        return [o.code for o in self.org.officers.values()
                if o.unit == unit and o.code not in busy and (o.subunit is not None or not in_subunit)]


def issue_tokens(settings: Any, doc: dict[str, Any], officers_per_unit: int = 3) -> People:
    """Tokens for every secretary, sub-unit lead and council member, and a few officers per unit."""
    org = Organisation.from_document(doc)
    people = People(org)
    wanted: list[tuple[str, str]] = [("province_secretary", org.province_secretary)]
    for unit in org.units.values():
        wanted.append(("unit_secretary", unit.secretary))
        for officer in people.unit_officers(unit.code)[:officers_per_unit]:
            wanted.append(("officer", officer))
    for sub in org.subunits.values():
        wanted.append(("subunit_lead", sub.lead))
    for council in org.councils.values():
        for member in council.members:
            wanted.append(("council_member", member))
    wanted = list(dict.fromkeys(wanted))
    for pair in wanted:
        people.tokens[pair] = new_token()
    for svc in SERVICES:
        db = ServiceDatabase(settings, svc)
        with db.unit_of_work() as uow:
            for (role, subject), token in people.tokens.items():
                store_token(uow, token, role, subject, 30)
            uow.commit()
        db.dispose()
    return people
