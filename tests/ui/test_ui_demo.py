"""``sovang demo``: its pieces as plain tables (the clock, the identifiers, the deeds' grammar, the
choice of quarter), and the whole demo run twice with one seed, which must write the same golden
books — every book's entries and chain head (R15) — and publish the same figures."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
import unicodedata
import uuid
from pathlib import Path

import pytest

import shared.db
import shared.ids
from shared import clock
from shared.clock import Quarter
from sovang import demo
from sovang.demo_deeds import KINDS, deed_text, locality

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_clock_moves_only_forward_and_by_the_scenario() -> None:
    sim = demo.SimClock(clock.at_local(dt.date(2026, 7, 1), 8))
    first = sim.utcnow()
    assert sim.utcnow() > first
    sim.at(clock.at_local(dt.date(2026, 6, 1), 8))  # never backwards
    assert sim.utcnow() > first
    sim.at(clock.at_local(dt.date(2026, 7, 2), 9))
    assert clock.local(sim.utcnow()).date() == dt.date(2026, 7, 2)


def test_seeded_ids_are_uuid7_ordered_and_the_same_for_a_seed() -> None:
    def draw(seed: int) -> list[str]:
        sim = demo.SimClock(clock.at_local(dt.date(2026, 7, 1), 8))
        ids = demo.SeededIds(sim, seed)
        out = []
        for i in range(5000):
            if i % 100 == 0:
                sim.utcnow()
            out.append(ids.new_id())
        return out

    a, b = draw(1), draw(1)
    assert a == b and a != draw(2)
    assert a == sorted(a) and len(set(a)) == len(a)
    assert all(uuid.UUID(x).version == 7 for x in a[:50])


def test_the_services_run_on_the_settings_clock_and_ids_only_inside_the_block() -> None:
    from services.intake import services as intake_services
    from shared.runtime import sources

    def play(seed: int) -> tuple[list[dt.date], list[str]]:
        sim = demo.SimClock(clock.at_local(dt.date(2026, 7, 1), 8))
        with sources(demo.Settings().with_(clock=sim, ids=demo.SeededIds(sim, seed))):
            # shared.db.utcnow is what column defaults hold: it reads the same clock.
            days = [clock.today(), intake_services.utcnow().date(), shared.db.utcnow().date()]
            return days, [intake_services.new_id(), shared.ids.new_id()]

    days, inside = play(3)
    assert days == [dt.date(2026, 7, 1)] * 3
    assert all(uuid.UUID(x).version == 7 for x in inside) and inside == sorted(inside)
    assert play(3) == (days, inside) and play(4)[1] != inside  # the same seed, the same ids
    # After the block, the machine's clock and UUIDv7 again.
    assert abs((shared.db.utcnow() - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert abs((clock.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 60
    assert shared.ids.new_id() > inside[-1] or dt.date.today() < dt.date(2026, 7, 1)
    with sources(demo.Settings()):  # none named: the machine's
        assert abs((clock.now() - dt.datetime.now(dt.UTC)).total_seconds()) < 60


@pytest.mark.parametrize(("today", "quarter"), [
    (dt.date(2026, 11, 26), "2026-Q3"),
    (dt.date(2026, 10, 5), "2026-Q2"),   # Q3's rounds still running: the one before
    (dt.date(2026, 10, 16), "2026-Q3"),
    (dt.date(2027, 1, 20), "2026-Q4"),
])
def test_the_quarter_played_is_the_latest_whose_rounds_are_over(today: dt.date, quarter: str) -> None:
    assert str(demo.pick_quarter(today)) == quarter


def test_the_deeds_read_as_vietnamese_and_fit_the_contract() -> None:
    rng = random.Random(7)
    texts = [deed_text(rng, unit, sub, name) for unit, sub, name in [
        ("CAH-DM", "Công an xã Đức Mạnh", "Công an huyện Đắk Mil"),
        ("P-PCCC", None, "Phòng Cảnh sát phòng cháy, chữa cháy và cứu nạn, cứu hộ"),
        ("CAH-TD", "Công an xã Quảng Trực", "Công an huyện Tuy Đức"),
    ] * 80]
    assert {t.topic for t in texts} >= {"flood", "fire", "lost", "traffic", "crime", "village"}
    assert {t.kind for t in texts} == set(KINDS)
    for t in texts:
        assert 1 <= len(t.title) <= 200 and 1 <= len(t.description) <= 10_000
        assert "{" not in t.title + t.description + t.place
        assert unicodedata.is_normalized("NFC", t.title + t.description)
    assert locality("Công an xã Đức Mạnh", "Công an huyện Đắk Mil") == "xã Đức Mạnh"
    assert locality(None, "Công an huyện Đắk Mil") == "huyện Đắk Mil"
    assert [deed_text(random.Random(1), "CAH-DM", None, "Công an huyện Đắk Mil") for _ in range(2)][0] == \
        deed_text(random.Random(1), "CAH-DM", None, "Công an huyện Đắk Mil")


def test_evidence_pictures_are_png_and_r7_needs_are_exact() -> None:
    picture = demo.png(random.Random(1))
    assert picture.startswith(b"\x89PNG\r\n\x1a\n") and picture == demo.png(random.Random(1))
    assert [demo.need(n) for n in (5, 6, 7, 11)] == [4, 5, 6, 9]  # 100*a >= 80*n


def test_the_demo_refuses_a_home_that_holds_data(tmp_path: Path) -> None:
    (tmp_path / "intake.db").write_bytes(b"")
    with pytest.raises(demo.DemoError, match="đã có dữ liệu"):
        demo.run_demo(demo.Settings(home=tmp_path), seed=1, quarter=Quarter(2026, 3))


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_the_demo_twice_with_one_seed_gives_the_same_books(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVANG_")}
    homes = [tmp_path / "first", tmp_path / "second"]
    started = time.monotonic()
    runs = [subprocess.Popen([sys.executable, "-m", "sovang.cli", "demo", "--seed", "1", "--home", str(h)], cwd=ROOT,
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for h in homes]
    outputs = [p.communicate(timeout=1100)[0] for p in runs]
    for p, out in zip(runs, outputs, strict=True):
        assert p.returncode == 0, out[-3000:]
    print(f"two demos side by side: {time.monotonic() - started:.0f} s")
    first, second = (json.loads((h / "demo.json").read_text("utf-8")) for h in homes)
    assert first["books"] == second["books"]
    assert first["figures"] == second["figures"]
    books = first["books"]
    assert len(books) == 16 and all(b["valid"] for b in books.values())
    assert all(b["entries"] >= 1 and len(b["head"]) == 64 for b in books.values())
    # The quarter played for real: failing months taken up again, a runoff for the 20 places.
    # R22: the provincial paper book (40 entries, 2021-09 … 2022-11) first, then the quarter's 20.
    assert first["paper"] == 40 and books["CAT"]["entries"] == 40 + 20 and first["provincial"] == 20
    assert sum(n for q, n in first["figures"]["by_quarter"].items() if q <= "2022-Q4") == 40
    assert first["rounds"]["monthly"] >= 45 and first["rounds"]["supplementary"] >= 1
    assert first["rounds"]["runoff"] == 1 and first["runoff"]["selected"] == first["runoff"]["places"]
    assert first["closed_by_schedule"] >= 1
    assert "Tổng kết" in outputs[0] and "/honour-roll/" in outputs[0] and "/dashboard/" in outputs[0]
    assert "/feeds/CAT.atom" in outputs[0]
    # R24: demo sign-ins, printed, for the pages.
    assert len(first["sign_ins"]) == 5 and "Đăng nhập tại" in outputs[0]
    assert all(s["password"] in outputs[0] for s in first["sign_ins"])
