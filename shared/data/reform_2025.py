"""Derive ``lam-dong-2025.json`` from ``dak-nong.json``: the organisation shaped like the 2025 reform.

    python shared/data/reform_2025.py      # rewrites shared/data/lam-dong-2025.json

- Đắk Nông is merged into Lâm Đồng: the province gets a new code (``CAT-LD``) and name, and a new
  provincial council ``HD-CAT-LD`` (one member leaves, a former district chief joins).
- District police are abolished: every commune, ward and town police becomes a unit directly
  under the province (its own council of its officers, its lead as secretary, no sub-units);
  the district headquarters officers move to the first commune police of their district, the
  district teams to the matching provincial department.
- Drug police (P-MT) is merged into criminal police (P-CSHS): its team and officers move there;
  P-CSHS's council changes (two members leave, P-MT's head joins).

Officer codes never change: people move, their deeds keep the unit they were recorded in.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROVINCE = "CAT-LD"
TEAM_TO_DEPARTMENT = {"D-CSHS": "P-CSHS", "D-CSGTTT": "P-CSGT", "D-CSQLHCVTTXH": "P-QLHC"}
LOCALITIES = ("commune", "ward", "town")


def reform(doc: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    old_province = doc["province"]["code"]
    officers = {o["code"]: o for o in doc["officers"]}
    for o in officers.values():
        if o["unit"] == old_province:
            o["unit"] = PROVINCE
    province = doc["province"]
    province.update(code=PROVINCE, name="Công an tỉnh Lâm Đồng")
    units = {u["code"]: u for u in doc["units"]}
    new_units: list[dict[str, Any]] = []
    for unit in doc["units"]:
        if unit["kind"] != "district":
            continue
        localities = [s for s in unit["subunits"] if s["kind"] in LOCALITIES]
        for s in localities:
            members = [o["code"] for o in doc["officers"] if o["subunit"] == s["code"]]
            for code in members:
                officers[code].update(unit=s["code"], subunit=None)
            new_units.append({
                "code": s["code"], "name": s["name"], "kind": s["kind"], "secretary": s["lead"],
                "council": {"code": f"HD-{s['code']}", "members": members, "threshold_percent": 80, "base": "entitled"},
                "subunits": [],
            })
        for o in doc["officers"]:
            if o["unit"] != unit["code"]:
                continue
            if o["subunit"] is None:
                o.update(unit=localities[0]["code"], subunit=None)
            else:
                team = o["subunit"][len(unit["code"]) + 1:]
                o.update(unit=TEAM_TO_DEPARTMENT.get(team, "P-TM"), subunit=None)
    # P-MT merged into P-CSHS.
    drugs, crime = units["P-MT"], units["P-CSHS"]
    crime["subunits"].extend(drugs["subunits"])
    for o in doc["officers"]:
        if o["unit"] == "P-MT":
            o["unit"] = "P-CSHS"
    crime["council"]["members"] = [*crime["council"]["members"][:5], drugs["council"]["members"][0]]
    council = province["council"]
    council.update(code=f"HD-{PROVINCE}",
                   members=[*council["members"][:-1], units["CAH-DM"]["council"]["members"][0]])
    doc["units"] = [u for u in doc["units"] if u["kind"] == "department" and u["code"] != "P-MT"] + new_units
    return doc


if __name__ == "__main__":
    source = json.loads((HERE / "dak-nong.json").read_text("utf-8"))
    (HERE / "lam-dong-2025.json").write_text(
        json.dumps(reform(source), ensure_ascii=False, indent=1) + "\n", "utf-8")
