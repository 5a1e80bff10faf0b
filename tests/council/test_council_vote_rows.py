"""The repository builds each vote of a round (R19) from its row by position: the votes table's
columns must stay Vote's fields, in order, or a close would count choices under the wrong names."""

from __future__ import annotations

import dataclasses

from services.council.domain.ballots import Vote
from services.council.orm import votes


def test_the_votes_table_holds_vote_fields_in_order() -> None:
    assert [c.name for c in votes.columns] == [f.name for f in dataclasses.fields(Vote)]
