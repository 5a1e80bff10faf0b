"""The repository builds each vote of a round (R19) from its row by position (a provincial close
reads 12,500 of them): the votes read back are the votes cast, field for field, in receipt order."""

from __future__ import annotations

from services.council.domain.ballots import Vote, split_ballot
from shared.runtime import Runtime


def test_the_votes_read_back_are_the_votes_cast(runtime: Runtime) -> None:
    cast = [Vote("round-1", r, cid, choice, voter)
            for code, voter in (("a" * 16, None), ("b" * 16, "CATP-GN-0001"))
            for r, cid, choice in split_ballot(code, {"cand-1": "approve", "cand-2": "abstain", "cand-3": "reject"})]
    other = [Vote("round-2", r, cid, choice) for r, cid, choice in split_ballot("c" * 16, {"cand-9": "reject"})]
    with runtime.db.unit_of_work() as uow:
        uow.ballots.cast("round-1", cast, None)
        uow.ballots.cast("round-2", other, None)
        uow.commit()
    with runtime.db.unit_of_work() as uow:
        read = uow.ballots.votes("round-1")
    assert read == sorted(cast, key=lambda v: v.receipt)
    assert all(isinstance(v, Vote) for v in read)
    assert {v.voter for v in read} == {None, "CATP-GN-0001"} and {v.choice for v in read} == {"approve", "abstain", "reject"}
