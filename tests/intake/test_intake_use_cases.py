"""intake's use cases on a unit of work held in memory (``tests/intake/fakes.py``): the rules of
recording (R2, R2a, R3), introducing (R5, R5a), evidence and the messages from council and the
book, without a database. The same paths through HTTP and a real database are the other tests
of this folder."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from services.intake import services
from services.intake.domain.scope import Actor
from shared.clock import TZ
from shared.config import Settings
from shared.context import Context
from shared.messages import (
    CloseIntroductions,
    DeedFateDecided,
    DeedIntroduced,
    DeedsRecorded,
    IntroductionsClosed,
)
from shared.org import Organisation
from shared.refusals import Conflict, Forbidden, Invalid, NotFound, UnsupportedType
from tests.intake.conftest import People, people_of
from tests.intake.fakes import FakeWork

NOW = dt.datetime(2026, 7, 15, 3, 0, tzinfo=dt.UTC)
TODAY = NOW.astimezone(TZ).date()
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


@pytest.fixture
def people(org_document: dict) -> People:
    return people_of(org_document)


@pytest.fixture
def ctx(org_document: dict, tmp_path: Any) -> Context:
    return Context.fixed(Settings(home=tmp_path), Organisation.from_document(org_document), NOW, TODAY)


@pytest.fixture
def uow() -> FakeWork:
    return FakeWork()


def deed_input(author: dict[str, str], **changes: Any) -> dict[str, Any]:
    data = {"author": author, "occurred_on": TODAY, "kind": "good_deed", "relation": "direct",
            "title": "Giúp cụ bà qua đường", "description": "Dắt cụ bà qua ngã tư.", "place": "Đắk Mil",
            "beneficiaries": "Cụ bà H'Lan"}
    data.update(changes)
    return data


def officer(people: People) -> Actor:
    return Actor("officer", people.officer)


def test_recording_writes_the_deed_its_message_and_its_audit_line_and_never_commits(uow, ctx, people) -> None:
    """R2, R10, R23."""
    view = services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))
    (deed,) = uow.deeds.by_id.values()
    assert (deed.id, deed.status, deed.unit, deed.subunit, deed.month) == (
        view["id"], "recorded", people.unit, people.subunit, TODAY.strftime("%Y-%m"))
    assert deed.created_at == NOW and deed.created_by == f"officer:{people.officer}"
    assert uow.messages == [DeedsRecorded(unit=people.unit, month=deed.month, deed_ids=[deed.id])]
    assert uow.actions() == ["deed.recorded"] and "Cụ bà" not in repr(uow.lines)  # R2a
    assert view["beneficiaries"] == "Cụ bà H'Lan"  # the author reads them
    assert not uow.committed


@pytest.mark.parametrize(("change", "refusal", "field"), [
    ({"author": {"officer": "KHONG-CO"}}, Invalid, "author"),
    ({"occurred_on": TODAY + dt.timedelta(days=1)}, Invalid, "occurred_on"),  # R3: not in the future
    ({"occurred_on": TODAY - dt.timedelta(days=400)}, Invalid, "occurred_on"),  # R3: too late
])
def test_recording_refuses_an_input_the_rules_do_not_take(uow, ctx, people, change, refusal, field) -> None:
    with pytest.raises(refusal) as refused:
        services.record_deed(uow, ctx, officer(people), {**deed_input({"officer": people.officer}), **change})
    assert field in refused.value.errors
    assert not uow.deeds.by_id and not uow.messages and not uow.lines


def test_an_officer_records_no_deed_of_a_colleague(uow, ctx, people) -> None:
    """R2: an officer records their own deeds only."""
    with pytest.raises(Forbidden):
        services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.colleague}))
    assert not uow.deeds.by_id


def test_a_batch_is_all_or_nothing_with_reasons_by_index(uow, ctx, people) -> None:
    lead = Actor("subunit_lead", people.lead)
    good = deed_input({"officer": people.officer})
    bad = deed_input({"officer": people.colleague}, occurred_on=TODAY + dt.timedelta(days=2))
    with pytest.raises(Invalid) as refused:
        services.record_batch(uow, ctx, lead, [good, bad])
    assert list(refused.value.errors) == ["1"] and not uow.deeds.by_id and not uow.messages
    views = services.record_batch(uow, ctx, lead, [good, good])
    assert len(views) == len(uow.deeds.by_id) == 2
    # R10: one message for the (unit, month), the deeds in their order.
    assert [m.deed_ids for m in uow.messages] == [[v["id"] for v in views]]
    with pytest.raises(Forbidden):
        services.record_batch(uow, ctx, officer(people), [good])


def test_a_reader_of_another_unit_learns_nothing_of_a_deed(uow, ctx, people) -> None:
    view = services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))
    with pytest.raises(NotFound):
        services.get_deed(uow, ctx, Actor("officer", people.stranger), view["id"])
    with pytest.raises(NotFound):
        services.get_deed(uow, ctx, officer(people), "0190a1b2-0000-7000-8000-00000000dead")


def test_beneficiaries_reach_only_those_r2a_names(uow, ctx, people) -> None:
    deed_id = services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))["id"]
    colleague = services.get_deed(uow, ctx, Actor("officer", people.colleague), deed_id)
    secretary = services.get_deed(uow, ctx, Actor("unit_secretary", people.secretary), deed_id)
    assert "beneficiaries" not in colleague and secretary["beneficiaries"] == "Cụ bà H'Lan"


def test_an_officer_lists_their_unit_and_no_other(uow, ctx, people) -> None:
    services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}, title="Sửa cầu tre"))
    services.record_deed(uow, ctx, Actor("officer", people.stranger), deed_input({"officer": people.stranger}))
    mine = services.list_deeds(uow, ctx, officer(people), {}, 10, None)
    assert [d["author"]["officer"] for d in mine] == [people.officer]
    assert [d["title"] for d in services.list_deeds(uow, ctx, officer(people), {"q": "cau"}, 10, None)] == [
        "Sửa cầu tre"]  # R4: diacritics aside
    with pytest.raises(Forbidden):
        services.list_deeds(uow, ctx, officer(people), {"unit": people.other_unit}, 10, None)


def test_introducing_moves_a_recorded_deed_once(uow, ctx, people) -> None:
    """R5: the lead of the deed's sub-unit introduces it; again changes nothing."""
    deed_id = services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))["id"]
    uow.messages.clear()
    with pytest.raises(Forbidden):
        services.introduce(uow, ctx, Actor("subunit_lead", people.other_lead), deed_id)
    lead = Actor("subunit_lead", people.lead)
    first = services.introduce(uow, ctx, lead, deed_id)
    again = services.introduce(uow, ctx, lead, deed_id)
    assert first == again and first["status"] == "introduced" and first["carried_over"] is False
    assert uow.messages == [DeedIntroduced(deed_id=deed_id, unit=people.unit, month=first["month"])]
    assert uow.actions().count("deed.introduced") == 1


def test_a_deed_introduced_after_its_month_closed_is_carried_over(uow, ctx, people) -> None:
    """R5a."""
    deed_id = services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))["id"]
    month = uow.deeds.by_id[deed_id].month
    uow.deeds.mark_month(people.unit, month, NOW, "round-1")
    view = services.introduce(uow, ctx, Actor("subunit_lead", people.lead), deed_id)
    assert view["carried_over"] is True


def test_a_deed_past_introduction_is_not_introduced(uow, ctx, people) -> None:
    deed_id = services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))["id"]
    uow.deeds.change(deed_id, status="recognised")
    with pytest.raises(Conflict):
        services.introduce(uow, ctx, Actor("subunit_lead", people.lead), deed_id)


def test_evidence_is_kept_once_by_its_content_and_only_while_the_deed_is_intakes(uow, ctx, people) -> None:
    deed_id = services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))["id"]
    with pytest.raises(Invalid):
        services.add_evidence(uow, ctx, officer(people), deed_id, b"")
    with pytest.raises(UnsupportedType):
        services.add_evidence(uow, ctx, officer(people), deed_id, b"MZ\x90\x00 not a photo")
    added = services.add_evidence(uow, ctx, officer(people), deed_id, PNG)
    assert services.add_evidence(uow, ctx, officer(people), deed_id, PNG) == added
    assert added["content_type"] == "image/png" and uow.actions().count("evidence.added") == 1
    assert services.get_evidence(uow, ctx, officer(people), deed_id, added["sha256"]) == ("image/png", PNG)
    uow.deeds.change(deed_id, status="in_round")
    with pytest.raises(Conflict):
        services.add_evidence(uow, ctx, officer(people), deed_id, PNG + b"\1")


def test_closing_a_month_puts_its_introduced_deeds_in_the_round_once(uow, ctx, people) -> None:
    """R5, R10: council gets the final list with frozen copies, never the beneficiaries (R2a)."""
    lead = Actor("subunit_lead", people.lead)
    ids = [services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))["id"]
           for _ in range(3)]
    for deed_id in ids[:2]:
        services.introduce(uow, ctx, lead, deed_id)
    month = uow.deeds.by_id[ids[0]].month
    msg = CloseIntroductions(round_id="R1", council=people.council, unit=people.unit, month=month)
    uow.messages.clear()
    services.close_introductions(uow, msg)
    services.close_introductions(uow, msg)  # delivered twice: answered once
    (closed,) = uow.messages
    assert isinstance(closed, IntroductionsClosed) and closed.recorded == 3
    assert [d["id"] for d in closed.deeds] == sorted(ids[:2])
    assert all("beneficiaries" not in d for d in closed.deeds)
    assert [uow.deeds.by_id[i].status for i in ids] == ["in_round", "in_round", "recorded"]
    assert uow.deeds.months[(people.unit, month)].closed_by_round == "R1"


def test_a_fate_never_moves_a_status_back(uow, ctx, people) -> None:
    deed_id = services.record_deed(uow, ctx, officer(people), deed_input({"officer": people.officer}))["id"]
    uow.deeds.change(deed_id, status="recognised")
    services.deed_fate(uow, DeedFateDecided(deed_id=deed_id, round_id="R1", status="not_selected"))
    assert uow.deeds.by_id[deed_id].status == "recognised" and "deed.status_changed" not in uow.actions()
