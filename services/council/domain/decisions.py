"""R8, R14: recognition decisions, numbered per issuing unit per year, and the wording of the
document that carries one (Decree 30/2020/NĐ-CP on administrative documents: the issuing body,
its number, the place and date, the signatory's title)."""

from __future__ import annotations

import datetime as dt

# Unit name prefixes that name the locality the unit sits in (the place of its documents).
_LOCALITIES = ("Công an thành phố ", "Công an thị xã ", "Công an huyện ", "Công an quận ", "Công an tỉnh ")


def decision_number(seq: int, issuer: str) -> str:
    """The number of the ``seq``-th decision of ``issuer`` in a year: ``"3/QĐ-CAH-DM"``."""
    return f"{seq}/QĐ-{issuer}"


def place_of(unit_name: str, province_name: str) -> str:
    """Where a unit's documents are issued: the district or city it polices; a provincial
    department or the province itself writes the province's name ("Đắk Nông, ngày …")."""
    for prefix in _LOCALITIES[:-1]:
        if unit_name.startswith(prefix):
            return unit_name[len(prefix):]
    prefix = _LOCALITIES[-1]
    return province_name[len(prefix):] if province_name.startswith(prefix) else province_name


def date_line(place: str, day: dt.date) -> str:
    """Decree 30/2020, appendix I: days below 10 and months below 3 are written with a leading
    zero ("Gia Nghĩa, ngày 05 tháng 02 năm 2025")."""
    d = f"{day.day:02d}" if day.day < 10 else str(day.day)
    m = f"{day.month:02d}" if day.month < 3 else str(day.month)
    return f"{place}, ngày {d} tháng {m} năm {day.year}"


def issuing_body(unit_kind: str, unit_name: str, province_name: str) -> tuple[str, str]:
    """(the body above, the issuing body), upper-case, as the top-left of the document names them:
    a district or a department under the provincial police; the provincial police under the
    Ministry of Public Security."""
    if unit_kind == "province":
        return "BỘ CÔNG AN", unit_name.upper()
    return province_name.upper(), unit_name.upper()


def signatory(unit_kind: str, unit_name: str) -> tuple[str, str]:
    """(the authority that decides, as the line under the title says it; the title above the
    signature): the head of the issuing unit."""
    if unit_kind == "province":
        return f"GIÁM ĐỐC {unit_name.upper()}", "GIÁM ĐỐC"
    if unit_kind == "department" or unit_name.startswith("Phòng "):
        return f"TRƯỞNG {unit_name.upper()}", "TRƯỞNG PHÒNG"
    for prefix in _LOCALITIES:
        if unit_name.startswith(prefix):
            return f"TRƯỞNG {unit_name.upper()}", f"TRƯỞNG {prefix.strip().upper()}"
    return f"THỦ TRƯỞNG {unit_name.upper()}", "THỦ TRƯỞNG ĐƠN VỊ"
