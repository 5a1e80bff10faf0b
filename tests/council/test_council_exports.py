"""R10 exports as a secretary opens them: the monthly report as CSV (UTF-8 with a BOM, field
names as headings) and as an XLSX spreadsheet with Vietnamese headings and unit names."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import openpyxl
import pytest
from flask.testing import FlaskClient

from services.council.app import create_app
from shared.config import Settings
from shared.runtime import Runtime
from tests.council.conftest import (
    MEMBERS,
    PROVINCE_SECRETARY,
    SECRETARY,
    UNIT,
    deed_copy,
    issue,
    make_runtime,
    open_monthly,
    this_month,
)
from tests.council.test_council_quarter import ballot_round, close

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def a_closed_month(client: FlaskClient) -> str:
    runtime = client.application.extensions["sovang"]
    sec = issue(runtime, "unit_secretary", SECRETARY)
    rnd = open_monthly(client, sec, runtime, [deed_copy(), deed_copy(title="Hiến máu cứu người")])
    ballot_round(client, rnd, [issue(runtime, "council_member", m) for m in MEMBERS],
                 {rnd["candidates"][0]["deed_id"]: 7})
    close(client, rnd, sec)
    return this_month()


def check_exports(client: FlaskClient) -> None:
    runtime = client.application.extensions["sovang"]
    month = a_closed_month(client)
    province = issue(runtime, "province_secretary", PROVINCE_SECRETARY)
    path = f"/api/v1/reports/monthly?month={month}"
    rows = client.get(path, headers=province).get_json()["items"]

    r = client.get(path, headers={**province, "Accept": "text/csv"})
    assert r.status_code == 200 and r.mimetype == "text/csv" and r.data[:3] == b"\xef\xbb\xbf"
    table = list(csv.DictReader(io.StringIO(r.data.decode("utf-8-sig"))))
    assert list(table[0]) == ["unit", "month", "recorded", "introduced", "candidates", "recognised", "revoked",
                              "quota_met"]
    assert len(table) == len(rows) == 15
    mine = next(x for x in table if x["unit"] == UNIT)
    assert (mine["candidates"], mine["recognised"], mine["revoked"], mine["quota_met"]) == ("2", "1", "0", "true")

    r = client.get(path, headers={**province, "Accept": XLSX})
    assert r.status_code == 200 and r.mimetype == XLSX and "bao-cao-thang" in r.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(r.data)).active
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == ("Mã đơn vị", "Đơn vị", "Tháng", "Việc tốt đã ghi", "Đã giới thiệu", "Đưa ra biểu quyết",
                         "Được công nhận", "Bị thu hồi", "Chỉ tiêu tháng")
    assert len(values) == 16
    by_unit = {v[0]: v for v in values[1:]}
    assert by_unit[UNIT] == (UNIT, "Công an thành phố Gia Nghĩa", month, 2, 2, 2, 1, 0, "Đạt")
    assert by_unit["P-PCCC"][1] == "Phòng Cảnh sát phòng cháy, chữa cháy và cứu nạn, cứu hộ"
    assert by_unit["CAH-DM"][8] == "Chưa xét"

    # A unit secretary's spreadsheet holds their unit alone.
    sec = issue(runtime, "unit_secretary", SECRETARY)
    own = openpyxl.load_workbook(io.BytesIO(client.get(path, headers={**sec, "Accept": XLSX}).data)).active
    assert [row[0] for row in own.iter_rows(min_row=2, values_only=True)] == [UNIT]
    # JSON stays the default; bad input is still a problem, whatever was asked for.
    assert client.get(path, headers={**province, "Accept": "*/*"}).mimetype == "application/json"
    bad = client.get("/api/v1/reports/monthly?month=2025-13", headers={**province, "Accept": XLSX})
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"


def test_r10_the_monthly_report_as_csv_and_xlsx(client: FlaskClient) -> None:
    check_exports(client)


@pytest.fixture
def pg_client(pg_settings: Settings, org_document: dict) -> Iterator[FlaskClient]:
    rt: Runtime = make_runtime(pg_settings, org_document)
    app = create_app(runtime=rt)
    app.config["TESTING"] = True
    rt.db.after_commit.clear()
    yield app.test_client()
    rt.db.dispose()


@pytest.mark.distributed
def test_r10_the_monthly_report_exports_on_postgresql(pg_client: FlaskClient) -> None:
    check_exports(pg_client)
