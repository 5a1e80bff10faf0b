"""intake's use cases of people, program tokens and the admin page's organisation loads, on a
unit of work held in memory (``tests/intake/fakes.py``): signing in and its limits (R24), the
password rules, a session's end and role, a token's revocation, and the organisation saga's
verdicts (R25), without a database. The same paths through HTTP and a real database are in
tests/sessions, tests/ui and tests/flow."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any

import pytest

from services.intake import access, organisation, people
from services.intake.domain import signin
from shared import audit
from shared.clock import TZ
from shared.config import Settings
from shared.context import Context
from shared.messages import (
    BookTokensRevoked,
    CheckOrganisationBook,
    CheckOrganisationCouncil,
    LoadOrganisationBook,
    LoadOrganisationCouncil,
    MessageError,
    OrganisationVerdict,
    TokensRevoked,
)
from shared.org import Organisation
from shared.refusals import Invalid, TooMany, Unauthenticated, Unavailable
from shared.sessions import session_digest
from tests.intake.conftest import People, people_of
from tests.intake.fakes import FakeWork

NOW = dt.datetime(2026, 7, 15, 3, 0, tzinfo=dt.UTC)
PASSWORD = "mật-khẩu-đủ-dài"
HERE = "203.0.113.7"


@pytest.fixture
def people_(org_document: dict) -> People:
    return people_of(org_document)


@pytest.fixture
def settings(tmp_path: Any) -> Settings:
    return Settings(home=tmp_path)


@pytest.fixture
def org(org_document: dict) -> Organisation:
    return Organisation.from_document(org_document)


def at(settings: Settings, org: Organisation, now: dt.datetime = NOW) -> Context:
    return Context.fixed(settings, org, now, now.astimezone(TZ).date())


@pytest.fixture
def ctx(settings: Settings, org: Organisation) -> Context:
    return at(settings, org)


@pytest.fixture
def uow() -> FakeWork:
    return FakeWork()


def with_password(uow: FakeWork, ctx: Context, subject: str) -> None:
    people.set_password(uow, ctx, "cli", subject, PASSWORD)
    uow.lines.clear()


# -- passwords (R24, R4a) ----------------------------------------------------------------------------
@pytest.mark.parametrize(("password", "why"), [
    ("ngắn", "ít nhất 8"),
    ("x" * (signin.MAX_PASSWORD + 1), "tối đa 256"),
    ("mật khẩu\x00dài", "ký tự điều khiển"),
])
def test_a_password_the_rules_refuse_is_refused_beside_its_field_and_nothing_is_kept(
        uow, ctx, people_, password, why) -> None:
    with pytest.raises(people.PasswordRefused) as refused:
        people.set_password(uow, ctx, "cli", people_.officer, password)
    assert why in refused.value.detail and list(refused.value.errors or {}) == ["password"]
    assert isinstance(refused.value, Invalid) and not uow.people.passwords and not uow.lines


def test_only_someone_of_the_organisation_gets_a_password(uow, ctx) -> None:
    with pytest.raises(people.PasswordRefused) as refused:
        people.set_password(uow, ctx, "cli", "CAH-XX-9999", PASSWORD)
    assert list(refused.value.errors or {}) == ["subject"] and not uow.people.passwords


def test_a_new_password_ends_every_session_of_its_person_and_says_who_set_it(uow, ctx, people_) -> None:
    with_password(uow, ctx, people_.officer)
    people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)
    people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)
    uow.lines.clear()
    people.set_password(uow, ctx, f"admin:{people_.province_secretary}", people_.officer, "một-mật-khẩu-khác")
    assert {s.ended_why for s in uow.people.sessions.values()} == {"everywhere"}
    ((who, action, subject, unit, details),) = uow.lines
    assert (who, action, subject, unit, details) == (
        audit.Named("admin", people_.province_secretary), "password.set", people_.officer, people_.unit,
        {"sessions_ended": 2})
    assert uow.people.passwords[people_.officer][2] == f"admin:{people_.province_secretary}"
    with pytest.raises(people.NotSignedIn):
        people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)


# -- signing in and its limits (R24) -----------------------------------------------------------------
def test_the_right_pair_opens_a_session_kept_by_its_digest_only(uow, ctx, people_) -> None:
    with_password(uow, ctx, people_.lead)
    done = people.sign_in(uow, ctx, f"  {people_.lead} ", PASSWORD, HERE)
    assert done.person.subject == people_.lead and done.person.roles[0] == done.person.role
    assert set(done.person.roles) >= {"officer", "subunit_lead"}
    (stored,) = uow.people.sessions.values()
    assert stored.digest == session_digest(done.session_id) != done.session_id
    assert (stored.subject, stored.csrf, stored.created_at, stored.ended_at) == (
        people_.lead, done.person.csrf, NOW, None)
    ((who, action, _, unit, details),) = uow.lines
    assert (who, action, unit, details["method"]) == (
        audit.Named(done.person.role, people_.lead), "session.signed_in", people_.unit, "password")
    assert HERE not in repr(uow.lines)  # R23: never from where
    assert not uow.committed


@pytest.mark.parametrize("who", ["wrong password", "unknown subject", "no password yet"])
def test_a_wrong_pair_is_refused_alike_and_writes_nothing(uow, ctx, people_, who) -> None:
    with_password(uow, ctx, people_.officer)
    subject, password = {"wrong password": (people_.officer, "sai-mật-khẩu"),
                         "unknown subject": ("CAH-XX-9999", PASSWORD),
                         "no password yet": (people_.colleague, PASSWORD)}[who]
    with pytest.raises(people.NotSignedIn) as refused:
        people.sign_in(uow, ctx, subject, password, HERE)
    assert isinstance(refused.value, Unauthenticated)
    assert (refused.value.detail, refused.value.subject) == (signin.WRONG_PAIR, subject)
    # The count is the entrypoint's, after the attempt is rolled back (in_request.signing_in).
    assert not uow.people.sessions and not uow.people.failures and not uow.lines


def test_too_many_failures_of_a_subject_stop_even_the_right_pair_until_the_window_passes(
        uow, settings, org, people_) -> None:
    ctx = at(settings, org)
    with_password(uow, ctx, people_.officer)
    for n in range(settings.signin_failures_per_subject):
        assert not people.limited(uow, ctx, people_.officer, HERE)
        # each from another address: the subject's count alone stops it
        people.count_failure(uow, at(settings, org, NOW + dt.timedelta(seconds=n)), people_.officer, f"10.0.0.{n}")
    assert people.limited(uow, ctx, people_.officer, HERE)
    with pytest.raises(TooMany) as refused:
        people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)
    assert refused.value.detail == signin.TOO_MANY
    assert refused.value.retry_after == settings.signin_window_minutes * 60
    assert not uow.people.sessions
    # Another person from this address is not held up by it.
    with_password(uow, ctx, people_.colleague)
    assert people.sign_in(uow, ctx, people_.colleague, PASSWORD, HERE).person.subject == people_.colleague
    later = at(settings, org, NOW + dt.timedelta(minutes=settings.signin_window_minutes, seconds=30))
    assert people.sign_in(uow, later, people_.officer, PASSWORD, HERE).person.subject == people_.officer
    # A good pair clears the subject's count.
    assert not [f for f in uow.people.failures if f[0] == people_.officer]


def test_too_many_failures_from_an_address_stop_every_subject_from_it(uow, settings, org, people_) -> None:
    settings = dataclasses.replace(settings, signin_failures_per_address=3)
    ctx = at(settings, org)
    with_password(uow, ctx, people_.officer)
    for n in range(3):
        people.count_failure(uow, ctx, f"CAH-XX-{n:04d}", HERE)
    with pytest.raises(TooMany):
        people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)
    assert people.sign_in(uow, ctx, people_.officer, PASSWORD, "198.51.100.1").person.subject == people_.officer


def test_a_failure_counted_forgets_those_older_than_the_window(uow, settings, org) -> None:
    old = at(settings, org, NOW - dt.timedelta(minutes=settings.signin_window_minutes + 1))
    people.count_failure(uow, old, "CAH-XX-0001", HERE)
    people.count_failure(uow, at(settings, org), "CAH-XX-0002", HERE)
    assert [f[0] for f in uow.people.failures] == ["CAH-XX-0002"]


def test_a_person_vouched_for_gets_the_same_session_and_an_unknown_code_is_refused(uow, ctx, people_) -> None:
    done = people.sign_in_vouched(uow, ctx, people_.officer, HERE, "oidc", "không biết")
    assert done.person.subject == people_.officer
    assert uow.lines[-1][1] == "session.signed_in" and uow.lines[-1][4]["method"] == "oidc"
    with pytest.raises(people.NotSignedIn) as refused:
        people.sign_in_vouched(uow, ctx, "CAH-XX-9999", HERE, "oidc", "không biết CAH-XX-9999")
    assert refused.value.detail == "không biết CAH-XX-9999"


# -- a session: its use, its end, its role -------------------------------------------------------------
def test_a_session_is_renewed_by_use_and_ends_once_idle(uow, settings, org, people_) -> None:
    ctx = at(settings, org)
    with_password(uow, ctx, people_.officer)
    done = people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)
    digest = session_digest(done.session_id)
    soon = at(settings, org, NOW + signin.TOUCH_EVERY / 2)
    assert people.lookup(uow, soon, done.session_id) == done.person
    assert uow.people.sessions[digest].last_seen_at == NOW  # not written at every request
    later = NOW + dt.timedelta(minutes=settings.session_idle_minutes - 1)
    assert people.lookup(uow, at(settings, org, later), done.session_id) == done.person
    assert uow.people.sessions[digest].last_seen_at == later
    uow.lines.clear()
    idle = at(settings, org, later + dt.timedelta(minutes=settings.session_idle_minutes, seconds=1))
    assert people.lookup(uow, idle, done.session_id) is None
    assert uow.people.sessions[digest].ended_why == "idle"
    assert [(line[0], line[1], line[4]) for line in uow.lines] == [
        (audit.system("intake"), "session.ended", {"why": "idle"})]
    assert people.why_ended(uow, idle, done.session_id) == signin.ENDED["idle"]
    assert people.lookup(uow, idle, "no-such-session") is None


def test_signing_out_ends_the_session_once_and_the_sign_in_page_says_so(uow, ctx, people_) -> None:
    with_password(uow, ctx, people_.officer)
    done = people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)
    uow.lines.clear()
    people.sign_out(uow, ctx, done.session_id)
    people.sign_out(uow, ctx, done.session_id)  # again: nothing more
    assert [(line[0], line[1], line[4]) for line in uow.lines] == [
        (audit.Named(done.person.role, people_.officer), "session.ended", {"why": "signed_out"})]
    assert people.lookup(uow, ctx, done.session_id) is None
    assert people.why_ended(uow, ctx, done.session_id) == signin.ENDED["signed_out"]
    assert people.assertion(uow, ctx, done.session_id) is None


def test_signing_out_everywhere_ends_every_live_session_and_counts_them(uow, ctx, people_) -> None:
    with_password(uow, ctx, people_.officer)
    first = people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)
    people.sign_in(uow, ctx, people_.officer, PASSWORD, HERE)
    people.sign_out(uow, ctx, first.session_id)
    uow.lines.clear()
    assert people.sign_out_everywhere(uow, ctx, "cli", people_.officer) == 1
    assert uow.lines == [(audit.CLI, "session.ended", people_.officer, people_.unit,
                          {"why": "everywhere", "sessions": 1})]
    assert people.why_ended(uow, ctx, first.session_id) == signin.ENDED["signed_out"]
    assert people.people(uow, ctx) == [{"subject": people_.officer, "set_at": NOW, "sessions": 0}]


def test_sessions_end_everywhere_before_any_organisation_is_loaded(uow, settings) -> None:
    """The command line may end a person's sessions first: the line then names no unit."""

    def none_loaded() -> Organisation:
        raise Unavailable("Chưa nạp tổ chức (sovang org load).")

    ctx = Context(settings, NOW, NOW.astimezone(TZ).date(), none_loaded)
    assert people.sign_out_everywhere(uow, ctx, "cli", "CAH-XX-0001") == 0
    assert uow.lines == [(audit.CLI, "session.ended", "CAH-XX-0001", None, {"why": "everywhere", "sessions": 0})]


def test_a_person_switches_only_to_a_role_they_hold(uow, ctx, people_) -> None:
    with_password(uow, ctx, people_.lead)
    done = people.sign_in(uow, ctx, people_.lead, PASSWORD, HERE)
    other = next(r for r in done.person.roles if r != done.person.role)
    switched = people.switch_role(uow, ctx, done.person, other)
    assert switched.role == other and switched.roles == done.person.roles
    assert people.lookup(uow, ctx, done.session_id).role == other
    with pytest.raises(Invalid) as refused:
        people.switch_role(uow, ctx, switched, "province_secretary")
    assert refused.value.detail == signin.NOT_YOUR_ROLE and list(refused.value.errors or {}) == ["role"]
    assert people.lookup(uow, ctx, done.session_id).role == other


# -- program tokens (R24) ------------------------------------------------------------------------------
def test_revoking_a_token_by_its_handle_tells_council_and_book(uow, ctx, people_) -> None:
    later = NOW + dt.timedelta(days=30)
    uow.tokens.add("a" * 64, "unit_secretary", people_.secretary, NOW, later)
    uow.tokens.add("b" * 64, "officer", people_.secretary, NOW, later)
    uow.tokens.add("c" * 64, "officer", people_.officer, NOW, NOW)  # expired
    held = access.in_force(uow, ctx)
    assert [t["handle"] for t in held] == ["a" * 12, "b" * 12] and all("token_hash" not in t for t in held)
    who = audit.Named("admin", people_.province_secretary)
    assert access.revoke(uow, ctx, who, handle="a" * 12) == (people_.secretary, 1)
    assert uow.messages == [kind(token_hashes=["a" * 64], role="unit_secretary", subject=people_.secretary,
                                 by=people_.province_secretary) for kind in (TokensRevoked, BookTokensRevoked)]
    assert uow.lines == [(who, "token.revoked", f"unit_secretary:{people_.secretary}", people_.unit,
                          {"tokens": 1, "token": "a" * 12})]
    for handle in ("a" * 12, "c" * 12, "A" * 12, "b" * 11):  # revoked, expired, not a handle
        with pytest.raises(access.NotInForce):
            access.revoke(uow, ctx, who, handle=handle)
    assert access.revoke(uow, ctx, who, subject=people_.secretary) == (people_.secretary, 1)
    assert uow.lines[-1][2] == f"*:{people_.secretary}" and not access.in_force(uow, ctx)


# -- the organisation loaded from the admin's page (R25) ----------------------------------------------
def verdict(service: str, step: str, load_id: str, ok: bool = True, problems: tuple[str, ...] = (),
            changed: bool = True) -> OrganisationVerdict:
    return OrganisationVerdict(load_id=load_id, service=service, step=step, ok=ok, problems=list(problems),
                               changed=changed)


def started(uow: FakeWork, ctx: Context, doc: dict) -> str:
    load = organisation.start(uow, ctx, "CAH-ADMIN", "to-chuc.json", doc)
    assert load.new
    return load.load_id


def test_a_load_is_kept_checked_here_and_sent_to_council_and_book_to_check(uow, ctx, org_document) -> None:
    load_id = started(uow, ctx, org_document)
    load = uow.org_loads.by_id[load_id]
    assert (load.state, load.requested_by, load.file, load.requested_at) == ("checking", "CAH-ADMIN", "to-chuc.json", NOW)
    assert {name: step["state"] for name, step in load.steps.items()} == {
        "intake": "ready", "council": "checking", "book": "checking"}
    assert [type(m) for m in uow.messages] == [CheckOrganisationCouncil, CheckOrganisationBook]
    assert uow.actions() == ["org.load_requested"]
    # The same file again while it runs: the same load; another file: refused, nothing added.
    assert organisation.start(uow, ctx, "CAH-ADMIN", "lai.json", org_document) == organisation.Started(load_id, False)
    other = copy.deepcopy(org_document)
    other["province"]["name"] = other["province"]["name"] + " (mới)"
    with pytest.raises(organisation.BadFile):
        organisation.start(uow, ctx, "CAH-ADMIN", "khac.json", other)
    assert len(uow.org_loads.by_id) == 1


def test_every_check_passed_starts_the_loads_in_order_and_intake_loads_last(uow, ctx, org_document) -> None:
    load_id = started(uow, ctx, org_document)
    uow.messages.clear()
    organisation.verdict(uow, ctx, verdict("book", "check", load_id))
    assert uow.org_loads.by_id[load_id].state == "checking" and not uow.messages
    organisation.verdict(uow, ctx, verdict("council", "check", load_id))
    assert [type(m) for m in uow.messages] == [LoadOrganisationCouncil]
    assert uow.org_loads.by_id[load_id].steps["council"]["state"] == "loading"
    before = uow.org_loads.by_id[load_id]
    organisation.verdict(uow, ctx, verdict("council", "check", load_id, ok=False))  # taken once: ignored
    organisation.verdict(uow, ctx, verdict("book", "check", load_id))  # delivered again: ignored
    assert uow.org_loads.by_id[load_id] == before and len(uow.messages) == 1
    organisation.verdict(uow, ctx, verdict("council", "load", load_id))
    assert [type(m) for m in uow.messages] == [LoadOrganisationCouncil, LoadOrganisationBook]
    organisation.verdict(uow, ctx, verdict("book", "load", load_id, changed=False))
    load = uow.org_loads.by_id[load_id]
    assert (load.state, load.finished_at) == ("loaded", NOW)
    assert {n: (s["state"], s.get("changed")) for n, s in load.steps.items()} == {
        "council": ("loaded", True), "book": ("loaded", False), "intake": ("loaded", True)}
    assert uow.organisation == org_document
    assert uow.lines[-1][1:] == ("org.loaded", "", None, {"load": load_id, "file": "to-chuc.json"})
    assert uow.lines[-1][0] == audit.Named("admin", "CAH-ADMIN")


def test_a_check_refused_anywhere_refuses_the_load_and_nothing_is_loaded(uow, ctx, org_document) -> None:
    load_id = started(uow, ctx, org_document)
    uow.messages.clear()
    organisation.verdict(uow, ctx, verdict("council", "check", load_id, ok=False, problems=("Phiên còn mở.",)))
    organisation.verdict(uow, ctx, verdict("book", "check", load_id))
    load = uow.org_loads.by_id[load_id]
    assert (load.state, load.finished_at, load.steps["council"]["problems"]) == ("refused", NOW, ["Phiên còn mở."])
    assert not uow.messages and uow.organisation is None
    assert uow.lines[-1][1] == "org.load_refused" and uow.lines[-1][4]["services"] == ["council"]


def test_a_load_refused_midway_stops_the_load_where_it_is(uow, ctx, org_document) -> None:
    load_id = started(uow, ctx, org_document)
    for service in ("council", "book"):
        organisation.verdict(uow, ctx, verdict(service, "check", load_id))
    organisation.verdict(uow, ctx, verdict("council", "load", load_id))
    uow.messages.clear()
    organisation.verdict(uow, ctx, verdict("book", "load", load_id, ok=False, problems=("Sổ đã khoá.",)))
    load = uow.org_loads.by_id[load_id]
    assert load.state == "stopped" and load.steps["book"] == {"state": "load_refused", "problems": ["Sổ đã khoá."]}
    assert load.steps["intake"]["state"] == "ready" and not uow.messages and uow.organisation is None
    assert uow.lines[-1][1] == "org.load_stopped"
    assert {k: uow.lines[-1][4][k] for k in ("loaded", "refused_by")} == {"loaded": ["council"], "refused_by": "book"}


def test_a_verdict_for_no_load_is_a_bad_message(uow, ctx) -> None:
    with pytest.raises(MessageError):
        organisation.verdict(uow, ctx, verdict("book", "check", "no-such-load"))


def test_a_load_page_reads_its_steps_and_a_summary_never_the_document(uow, ctx, org_document, org) -> None:
    load_id = started(uow, ctx, org_document)
    found = organisation.get(uow, ctx, load_id)
    assert "document" not in found and found["summary"]["units"] == len(org.units)
    assert [x["id"] for x in organisation.recent(uow, ctx)] == [load_id]
    assert organisation.get(uow, ctx, "no-such-load") is None
