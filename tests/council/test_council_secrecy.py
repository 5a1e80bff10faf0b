"""R19 as published: the result lists votes one by one, each under its own receipt derived from
the voter's; what the server sends about a cast ballot has one length whatever the choices; and
nothing in the council's tables pairs a member with a vote — on the embedded default (SQLite) and
on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from services.council.app import create_app
from services.council.domain.ballots import vote_receipt
from services.council.orm import voters, votes
from shared.config import Settings
from shared.runtime import Runtime
from tests.council.conftest import (
    AUTHORS,
    MEMBERS,
    SECRETARY,
    deed_copy,
    issue,
    make_runtime,
    open_monthly,
    vote,
)
from tests.sessions.site import make_site

HEX16 = re.compile(r"^[0-9a-f]{16}$")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.distributed)])
def any_runtime(request: pytest.FixtureRequest, org_document: dict) -> Iterator[Runtime]:
    """The council on the embedded default, then on PostgreSQL (+ Redis)."""
    settings = request.getfixturevalue("sqlite_settings" if request.param == "sqlite" else "pg_settings")
    rt = make_runtime(settings, org_document)
    rt.db.after_commit.clear()
    yield rt
    rt.db.dispose()


def _client(runtime: Runtime) -> FlaskClient:
    app = create_app(runtime=runtime)
    app.config["TESTING"] = True
    return app.test_client()


def test_a_recused_authors_votes_cannot_be_told_apart_in_the_result(any_runtime: Runtime) -> None:
    """R17 + R19: MEMBERS[0] wrote the first deed and casts a ballot without it; the published list
    holds only one-candidate votes of one shape, so nothing marks the ballot that lacked a deed, and
    each voter — only they — finds all their votes with their receipt; the recount is the tally."""
    client = _client(any_runtime)
    sec = issue(any_runtime, "unit_secretary", SECRETARY)
    own = deed_copy(author={"officer": MEMBERS[0], "name": "Thiếu tá Hồ Văn Bình"}, title="Cứu hộ cứu nạn")
    other = deed_copy(author={"officer": AUTHORS[0], "name": "Trung uý Lê Thị An"}, title="Trả lại tài sản")
    rnd = open_monthly(client, sec, any_runtime, [own, other])
    c_own, c_other = rnd["candidates"]
    receipts: dict[str, str] = {}
    for i, m in enumerate(MEMBERS):
        choices = {c_other["id"]: "approve" if i % 3 else "reject"}
        if m != MEMBERS[0]:
            choices[c_own["id"]] = "approve" if i % 2 else "abstain"
        r = vote(client, rnd, issue(any_runtime, "council_member", m), choices)
        assert r.status_code == 201, r.get_json()
        receipts[m] = r.get_json()["receipt"]
    result = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=sec).get_json()
    published = result["ballots"]

    # Every published object has the same shape: one receipt, one candidate, one choice.
    assert len(published) == 6 + 7
    assert all(set(b) == {"receipt", "choices"} and len(b["choices"]) == 1 for b in published)
    assert all(HEX16.match(b["receipt"]) for b in published)
    assert [b["receipt"] for b in published] == sorted({b["receipt"] for b in published})
    # The ballots' own receipts are never published: two votes of one ballot share nothing.
    assert not set(receipts.values()) & {b["receipt"] for b in published}
    # Each member finds exactly their own votes from their receipt, and nothing more.
    by_receipt = {b["receipt"]: b["choices"] for b in published}
    for m, code in receipts.items():
        mine = [by_receipt.get(vote_receipt(code, c["id"])) for c in (c_own, c_other)]
        if m == MEMBERS[0]:
            assert mine[0] is None and mine[1] is not None  # recused: no vote on their own deed
        else:
            assert all(mine)
    # Anyone recounts the tally from the list.
    counts = {c["id"]: c for c in result["candidates"]}
    for cid in (c_own["id"], c_other["id"]):
        chosen = [ch[cid] for ch in by_receipt.values() if cid in ch]
        assert (chosen.count("approve"), chosen.count("reject"), chosen.count("abstain")) == (
            counts[cid]["approve"], counts[cid]["reject"], counts[cid]["abstain"])
    assert counts[c_own["id"]]["entitled"] == 6 and counts[c_other["id"]]["entitled"] == 7
    assert not any(m in str(result) for m in MEMBERS)


def test_paper_ballots_are_published_vote_by_vote_too(any_runtime: Runtime) -> None:
    """R19, R19a: a paper ballot that lacks a candidate looks like any other once published."""
    client = _client(any_runtime)
    sec = issue(any_runtime, "unit_secretary", SECRETARY)
    own = deed_copy(author={"officer": MEMBERS[0], "name": "Thiếu tá Hồ Văn Bình"})
    rnd = open_monthly(client, sec, any_runtime, [own, deed_copy(title="Hiến máu")])
    a, b = (c["id"] for c in rnd["candidates"])
    papers = [{"choices": {b: "approve"}}] + [{"choices": {a: "approve", b: "approve"}}] * 6
    r = client.post(f"/api/v1/rounds/{rnd['id']}/paper-ballots", json={"voters": 7, "ballots": papers}, headers=sec)
    assert r.status_code == 201, r.get_json()
    result = client.post(f"/api/v1/rounds/{rnd['id']}/close", headers=sec).get_json()
    assert len(result["ballots"]) == 13
    assert all(set(x) == {"receipt", "choices"} and len(x["choices"]) == 1 for x in result["ballots"])
    assert [x["receipt"] for x in result["ballots"]] == sorted(x["receipt"] for x in result["ballots"])
    assert {c["id"]: c["approve"] for c in result["candidates"]} == {a: 6, b: 7}


PLANS = [("approve", "approve"), ("reject", "abstain"), ("abstain", "reject")]


def test_what_the_server_sends_about_a_ballot_has_one_length_whatever_the_choices(tmp_path: Path,
                                                                                org_document: dict) -> None:
    """R19: the same member, in the same round, choosing differently: the API's answer, its kept
    Idempotency-Key replay, the page's review and the receipt page each have one length."""
    lengths: dict[str, set[int]] = {"answer": set(), "replay": set(), "review": set(), "receipt": set()}
    for i, plan in enumerate(PLANS):
        for via in ("api", "page"):
            settings = Settings(home=tmp_path / f"{i}-{via}")
            if via == "api":
                runtime = make_runtime(settings, org_document)
                runtime.db.after_commit.clear()
                client = _client(runtime)
                disposed = [runtime]
            else:
                # R24: the ballot page takes a person's session, opened at intake's sign-in on
                # ``/``: the three services behind one origin, as a member's browser sees them.
                site = make_site(settings, org_document, subjects=(MEMBERS[1],))
                runtime = site.runtimes["council"]
                client = site.client()
                disposed = list(site.runtimes.values())
            sec = issue(runtime, "unit_secretary", SECRETARY)
            deeds = [deed_copy(title="Cứu người đuối nước"), deed_copy(title="Trả lại tài sản")]
            rnd = open_monthly(client, sec, runtime, deeds)
            choices = {c["id"]: choice for c, choice in zip(rnd["candidates"], plan, strict=True)}
            member = issue(runtime, "council_member", MEMBERS[1])
            if via == "api":
                keyed = {**member, "Idempotency-Key": "k-0001"}
                first = vote(client, rnd, keyed, choices)
                again = vote(client, rnd, keyed, choices)
                assert first.status_code == again.status_code == 201
                assert again.data == first.data
                lengths["answer"].add(len(first.data))
                lengths["replay"].add(len(again.data))
            else:
                browser = site.sign_in_page(MEMBERS[1])
                page = browser.get(f"/ballot/rounds/{rnd['id']}").get_data(as_text=True)
                csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
                form = {f"choice-{cid}": choice for cid, choice in choices.items()}
                review = browser.post(f"/ballot/rounds/{rnd['id']}", data={"csrf_token": csrf, "step": "review", **form})
                cast = browser.post(f"/ballot/rounds/{rnd['id']}", data={"csrf_token": csrf, "step": "confirm", **form})
                assert review.status_code == 200 and cast.status_code == 201
                lengths["review"].add(len(review.data))
                lengths["receipt"].add(len(cast.data))
            for rt in disposed:
                rt.db.dispose()
    assert {k: len(v) for k, v in lengths.items()} == {"answer": 1, "replay": 1, "review": 1, "receipt": 1}, lengths


def _all_rows(runtime: Runtime) -> dict[str, list[str]]:
    """Every row of every table of the council's database, as text."""
    out: dict[str, list[str]] = {}
    with runtime.db.reading() as s:
        for table in sa.inspect(s.get_bind()).get_table_names():
            out[table] = [repr(tuple(r)) for r in s.execute(sa.text(f'SELECT * FROM "{table}"'))]
    return out


def test_nothing_in_the_tables_links_a_member_to_a_vote(any_runtime: Runtime) -> None:
    """R19: after several members vote (in no particular order), no row anywhere holds both a
    member and a receipt; the votes hold no time, no serial id and no member; and neither the
    physical order of the rows nor (PostgreSQL) the transaction that wrote them pairs anyone."""
    client = _client(any_runtime)
    sec = issue(any_runtime, "unit_secretary", SECRETARY)
    rnd = open_monthly(client, sec, any_runtime, [deed_copy(), deed_copy(title="Hiến máu cứu người")])
    order = [MEMBERS[i] for i in (4, 0, 6, 2, 5, 1)]  # one member does not vote
    codes = {}
    for i, m in enumerate(order):
        r = vote(client, rnd, issue(any_runtime, "council_member", m), "approve" if i % 2 else "reject")
        assert r.status_code == 201
        codes[m] = r.get_json()["receipt"]
    vote_codes = {vote_receipt(code, c["id"]) for code in codes.values() for c in rnd["candidates"]}

    rows = _all_rows(any_runtime)
    for table, texts in rows.items():
        for text in texts:
            if any(m in text for m in MEMBERS):
                assert not any(code in text for code in (*codes.values(), *vote_codes)), (table, text)
    # The ballot's own receipt is stored nowhere; its votes are, with no voter.
    assert not any(code in text for texts in rows.values() for text in texts for code in codes.values())
    assert sum(code in text for text in rows["votes"] for code in vote_codes) == len(vote_codes) == 12

    bind_dialect = any_runtime.db.engine.dialect.name
    with any_runtime.db.reading() as s:
        inspector = sa.inspect(s.get_bind())
        for table in ("votes", "voters"):
            types = {c["name"]: c["type"] for c in inspector.get_columns(table)}
            assert not any(isinstance(t, sa.DateTime | sa.Date | sa.Integer) for t in types.values()), (table, types)
        assert all(v is None for v in s.execute(sa.select(votes.c.voter)).scalars())
        # Physical order is key order: member code for voters, the random receipt for votes.
        if bind_dialect == "postgresql":
            physical_voters = s.execute(sa.text(
                "SELECT member FROM voters WHERE round_id = :r ORDER BY ctid"), {"r": rnd["id"]}).scalars().all()
            physical_votes = s.execute(sa.text(
                "SELECT receipt FROM votes WHERE round_id = :r ORDER BY ctid"), {"r": rnd["id"]}).scalars().all()
            # Every live row of the round carries the one transaction id of the last ballot.
            xmins = s.execute(sa.text(
                "SELECT xmin::text FROM votes WHERE round_id = :r UNION SELECT xmin::text FROM voters WHERE round_id = :r"),
                {"r": rnd["id"]}).scalars().all()
            assert len(xmins) == 1
        else:
            for table in ("votes", "voters"):
                with pytest.raises(sa.exc.OperationalError):
                    s.execute(sa.text(f"SELECT rowid FROM {table}"))
            physical_voters = s.execute(sa.text(
                "SELECT member FROM voters WHERE round_id = :r"), {"r": rnd["id"]}).scalars().all()
            physical_votes = s.execute(sa.text(
                "SELECT receipt FROM votes WHERE round_id = :r"), {"r": rnd["id"]}).scalars().all()
        assert physical_voters == sorted(order) != order
        assert physical_votes == sorted(vote_codes)
        assert s.execute(sa.select(sa.func.count()).select_from(voters)).scalar_one() == 6
