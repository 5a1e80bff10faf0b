"""R18, R19, R19a: what makes a ballot acceptable; electronic ones name exactly the candidates the
member is entitled to, paper ones must reconcile with the members who took a ballot."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence, Set
from typing import NamedTuple

from services.council.domain.tally import CHOICES

RECEIPT_DIGITS = 16


def vote_receipt(ballot_receipt: str, candidate_id: str) -> str:
    """R19, API.md Result: the receipt of one vote of a ballot, the first 16 hex digits of
    SHA-256("{ballot receipt}:{candidate id}"). Only whoever holds the ballot's receipt can find
    its votes in the published list, and the votes of one ballot share nothing visible."""
    digest = hashlib.sha256(f"{ballot_receipt}:{candidate_id}".encode()).hexdigest()
    return digest[:RECEIPT_DIGITS]


def split_ballot(ballot_receipt: str, choices: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """R19: a ballot as the votes it is published as, ``(vote receipt, candidate, choice)`` in
    receipt order: each names one candidate, so a recused member's ballot (which lacks their own
    deed) looks like any other once split."""
    return sorted((vote_receipt(ballot_receipt, cid), cid, choice) for cid, choice in choices.items())


def ballot_errors(choices: Mapping[str, str], entitled_to: Set[str]) -> dict[str, list[str]]:
    """API.md: every candidate the member is entitled to, and none other; choices of CHOICES."""
    errors: dict[str, list[str]] = {}
    for cid, choice in choices.items():
        if cid not in entitled_to:
            errors[cid] = ["Không phải ứng viên mà thành viên này được bỏ phiếu."]
        elif choice not in CHOICES:
            errors[cid] = [f"Phải là một trong: {', '.join(CHOICES)}."]
    for cid in sorted(entitled_to - set(choices)):
        errors[cid] = ["Thiếu lựa chọn cho ứng viên này."]
    return errors


def paper_errors(
    voters: int,
    ballots: Sequence[Mapping[str, str]],
    entitled_members: int,
    entitled_per_candidate: Mapping[str, int],
) -> dict[str, list[str]]:
    """R19a: ballots may not exceed the members who took one, nor those members the entitled;
    no candidate may get more choices than it has entitled members."""
    errors: dict[str, list[str]] = {}
    if voters > entitled_members:
        errors["voters"] = [f"Số người nhận phiếu ({voters}) vượt số thành viên có quyền bỏ phiếu ({entitled_members})."]
    if len(ballots) > voters:
        errors["ballots"] = [f"Số phiếu ({len(ballots)}) vượt số người nhận phiếu ({voters})."]
    per_candidate = dict.fromkeys(entitled_per_candidate, 0)
    for i, choices in enumerate(ballots):
        for cid, choice in choices.items():
            if cid not in per_candidate:
                errors.setdefault(f"ballots.{i}", []).append(f"Ứng viên {cid} không thuộc phiên này.")
            elif choice not in CHOICES:
                errors.setdefault(f"ballots.{i}", []).append(f"Lựa chọn phải là một trong: {', '.join(CHOICES)}.")
            else:
                per_candidate[cid] += 1
    for cid, n in per_candidate.items():
        if n > entitled_per_candidate[cid]:
            errors.setdefault("ballots", []).append(
                f"Ứng viên {cid} có {n} lựa chọn nhưng chỉ {entitled_per_candidate[cid]} thành viên có quyền."
            )
    return errors


class Vote(NamedTuple):
    """R19: one vote of a ballot, under its own receipt; ``voter`` only for an open-ballot council.
    A named tuple, immutable like the other nouns but cheaper to make: a provincial close reads
    every vote of its round (500 candidates × 25 members: 12,500)."""

    round_id: str
    receipt: str
    candidate_id: str
    choice: str
    voter: str | None = None
