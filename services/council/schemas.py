"""Input schemas (strict: an unknown field is a 422) and output schemas that whitelist the fields
of API.md's Round, Result and monthly report row."""

from __future__ import annotations

import functools
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from services.council.domain.rounds import KINDS, OPENABLE, STATUSES
from services.council.domain.tally import CHOICES
from shared.clock import MONTH_PATTERN, PERIOD_PATTERN
from shared.cursors import ID, MAX_LIMIT, cursor_schema
from shared.text import text_problem
from shared.validation import StrictSchema

REQUIRED = "Trường bắt buộc."
MESSAGES = {
    "required": REQUIRED,
    "null": "Không được để trống.",
    "invalid": "Giá trị không hợp lệ.",
}


def _m(**extra: str) -> dict[str, str]:
    return {**MESSAGES, **extra}


def _storable(value: str) -> None:
    """R4a: no control character, noncharacter or lone surrogate in any text council takes."""
    problem = text_problem(value)
    if problem:
        raise ValidationError(problem)


# -- in -----------------------------------------------------------------------------------------
class OpenRoundIn(StrictSchema):
    """``POST /api/v1/rounds``."""

    council = fields.String(required=True, validate=[validate.Length(1, 40), _storable],
                            error_messages=_m(invalid="Phải là chuỗi."))
    kind = fields.String(
        required=True,
        validate=validate.OneOf(OPENABLE, error=f"Phải là một trong: {', '.join(OPENABLE)}."),
        error_messages=_m(invalid="Phải là chuỗi."),
    )
    period = fields.String(
        required=True,
        validate=[validate.Length(1, 8), _storable,
                  validate.Regexp(PERIOD_PATTERN, error="Phải là YYYY-MM hoặc YYYY-Qn, từ 2021-09.")],
        error_messages=_m(invalid="Phải là chuỗi."),
        metadata={"description": "YYYY-MM (monthly, supplementary) hoặc YYYY-Qn (quarterly, provincial)"},
    )
    closes_at = fields.AwareDateTime(
        format="iso", load_default=None,
        error_messages=_m(invalid="Phải là thời điểm ISO 8601 có múi giờ.", invalid_awareness="Phải có múi giờ."),
    )


class MoveDeadlineIn(StrictSchema):
    """``PATCH /api/v1/rounds/{id}`` (R20a): the new deadline."""

    closes_at = fields.AwareDateTime(
        format="iso", required=True,
        error_messages=_m(invalid="Phải là thời điểm ISO 8601 có múi giờ.", invalid_awareness="Phải có múi giờ."),
    )


class BallotIn(StrictSchema):
    """``POST /api/v1/rounds/{id}/ballots``: one choice per candidate the member may vote on."""

    choices = fields.Dict(
        keys=fields.String(validate=[validate.Length(1, 64), _storable]),
        values=fields.String(validate=[_storable, validate.OneOf(CHOICES, error=f"Phải là một trong: {', '.join(CHOICES)}.")],
                             error_messages=_m(invalid="Phải là chuỗi.")),
        required=True,
        error_messages=_m(invalid="Phải là đối tượng {{mã ứng viên: lựa chọn}}."),
        metadata={"description": "Mỗi ứng viên thành viên được bỏ phiếu, đúng một lần, không ứng viên nào khác"},
    )


class PaperBallotIn(StrictSchema):
    choices = fields.Dict(
        keys=fields.String(validate=[validate.Length(1, 64), _storable]),
        values=fields.String(validate=_storable, error_messages=_m(invalid="Phải là chuỗi.")),
        required=True,
        error_messages=_m(invalid="Phải là đối tượng {{mã ứng viên: lựa chọn}}."),
    )


class PaperBallotsIn(StrictSchema):
    """``POST /api/v1/rounds/{id}/paper-ballots`` (R19a)."""

    voters = fields.Integer(
        required=True, strict=True, validate=validate.Range(min=0, error="Không được âm."),
        error_messages=_m(invalid="Phải là số nguyên."),
    )
    ballots = fields.List(
        fields.Nested(PaperBallotIn), required=True, validate=validate.Length(max=1000),
        error_messages=_m(invalid="Phải là danh sách phiếu."),
    )


class RoundQuery(StrictSchema):
    """``GET /api/v1/rounds`` filters (besides ``limit`` and ``cursor``)."""

    council = fields.String(validate=validate.Length(1, 40))
    status = fields.String(validate=validate.OneOf(STATUSES, error=f"Phải là một trong: {', '.join(STATUSES)}."))
    period = fields.String(validate=validate.Regexp(PERIOD_PATTERN, error="Phải là YYYY-MM hoặc YYYY-Qn, từ 2021-09."))
    kind = fields.String(validate=validate.OneOf(KINDS, error=f"Phải là một trong: {', '.join(KINDS)}."))
    limit = fields.Integer(validate=validate.Range(1, MAX_LIMIT), metadata={"default": 100})
    cursor = fields.String(metadata=cursor_schema(ID))


# -- out ----------------------------------------------------------------------------------------
class AuthorOut(Schema):
    officer = fields.String()
    collective = fields.String()
    name = fields.String()


class CandidateOut(Schema):
    id = fields.String()
    deed_id = fields.String()
    title = fields.String()
    author = fields.Nested(AuthorOut)
    unit = fields.String()
    month = fields.String(metadata={"description": "the deed's own month (YYYY-MM)"})
    carried_over = fields.Boolean(metadata={"description": "R5a: a deed of an earlier month carried into this round"})
    withdrawn = fields.Boolean(metadata={"description": "R15a: its recognition was revoked while the round was open; "
                                                        "no ballot names it, it is neither passed nor selected"})


class RoundOut(Schema):
    """API.md, Round."""

    id = fields.String()
    council = fields.String()
    kind = fields.String(validate=validate.OneOf(KINDS))
    period = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    opens_at = fields.String(metadata={"format": "date-time"})
    closes_at = fields.String(metadata={"format": "date-time"})
    entitled = fields.Integer()
    voted = fields.Integer()
    candidates = fields.List(fields.Nested(CandidateOut))
    runoff_of = fields.String(allow_none=True)
    referred_from = fields.String(
        allow_none=True, metadata={"description": "R17a: the unit council whose deeds a referral round decides"})


class CandidateResultOut(Schema):
    id = fields.String()
    deed_id = fields.String()
    approve = fields.Integer(allow_none=True)
    reject = fields.Integer(allow_none=True)
    abstain = fields.Integer(allow_none=True)
    entitled = fields.Integer()
    ratio = fields.String(allow_none=True, metadata={"example": "6/7"})
    passed = fields.Boolean(allow_none=True)
    selected = fields.Boolean(allow_none=True)
    withdrawn = fields.Boolean(metadata={"description": "R15a: revoked while the round was open; never passed"})
    title = fields.String(metadata={"description": "R16: only for a selected candidate of a closed round"})
    author = fields.Nested(AuthorOut, metadata={"description": "R16: only for a selected candidate of a closed round"})


class BallotOut(Schema):
    """R19: one published vote: exactly one candidate in ``choices``, under the vote's own receipt,
    the first 16 hex digits of SHA-256("{ballot receipt}:{candidate id}")."""

    receipt = fields.String(metadata={
        "pattern": "^[0-9a-f]{16}$",
        "description": 'SHA-256("{ballot receipt}:{candidate id}"), its first 16 hex digits',
    })
    choices = fields.Dict(
        keys=fields.String(), values=fields.String(validate=validate.OneOf(CHOICES)),
        metadata={"description": "one candidate id and the choice made on it", "minProperties": 1, "maxProperties": 1},
    )
    voter = fields.String(metadata={"description": "only for councils that vote by open ballot"})


class AsBuilt(fields.List):
    """A list whose items the code built already in their schema's shape, from strings alone
    (``queries.closed_result``'s published votes): given out as it is. The nested schema still
    describes the items in the OpenAPI document; dumping a provincial round's 12,500 votes one by
    one through it took about 100 ms of every close and of every read of its result."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> list[Any] | None:
        return None if value is None else list(value)


class DecisionOut(Schema):
    number = fields.String()
    date = fields.String(metadata={"format": "date"})


class ResultOut(Schema):
    """API.md, Result."""

    round = fields.String()
    status = fields.String(validate=validate.OneOf(STATUSES))
    candidates = fields.List(fields.Nested(CandidateResultOut))
    ballots = AsBuilt(fields.Nested(BallotOut))
    decision = fields.Nested(DecisionOut, allow_none=True)
    runoff = fields.String(allow_none=True)
    quota_met = fields.Boolean(allow_none=True)


class ReceiptOut(Schema):
    receipt = fields.String()


class PaperCountOut(Schema):
    round = fields.String()
    voters = fields.Integer()
    ballots = fields.List(fields.Nested(BallotOut))


class MonthlyRowOut(Schema):
    """API.md, monthly report row (R10)."""

    unit = fields.String()
    month = fields.String()
    recorded = fields.Integer()
    introduced = fields.Integer()
    candidates = fields.Integer()
    recognised = fields.Integer()
    revoked = fields.Integer(metadata={"description": "R15a: recognitions of the month revoked since"})
    quota_met = fields.Boolean(allow_none=True)


class EvidenceOut(Schema):
    sha256 = fields.String()
    content_type = fields.String()
    size = fields.Integer()


class DossierDeedOut(Schema):
    """The public fields of the deed a dossier proposes (R2a: never its beneficiaries)."""

    id = fields.String()
    title = fields.String()
    description = fields.String()
    kind = fields.String()
    relation = fields.String()
    occurred_on = fields.String(metadata={"format": "date"})
    month = fields.String()
    place = fields.String(allow_none=True)
    author = fields.Nested(AuthorOut)
    unit = fields.String()
    subunit = fields.String(allow_none=True)


class DossierDecisionOut(Schema):
    number = fields.String()
    date = fields.String(metadata={"format": "date"})
    issuer = fields.String()
    issuer_name = fields.String()


class DossierTallyOut(Schema):
    approve = fields.Integer()
    reject = fields.Integer()
    abstain = fields.Integer()
    entitled = fields.Integer()
    ratio = fields.String(metadata={"example": "7/7"})
    round = fields.String()
    period = fields.String()


class DossierOut(Schema):
    """R11: the proposal dossier as the unit sent it."""

    id = fields.String()
    deed_id = fields.String()
    quarter = fields.String()
    unit = fields.String()
    deed = fields.Nested(DossierDeedOut)
    evidence = fields.List(fields.Nested(EvidenceOut))
    monthly_decision = fields.Nested(DossierDecisionOut, allow_none=True)
    monthly_tally = fields.Nested(DossierTallyOut, allow_none=True)
    quarterly_round = fields.String()
    quarterly_tally = fields.Nested(DossierTallyOut, allow_none=True)
    sent_on = fields.String(allow_none=True, metadata={"format": "date"})
    received_at = fields.String(metadata={"format": "date-time"})


class DossierPage(Schema):
    items = fields.List(fields.Nested(DossierOut))
    next = fields.String(allow_none=True)


def dump(schema: type[Schema], data: Any, many: bool = False) -> Any:
    return _instance(schema, many).dump(data)


@functools.cache
def _instance(schema: type[Schema], many: bool) -> Schema:
    """One instance of each output schema, built once: a schema's construction costs more than
    most of its dumps."""
    return schema(many=many)


class RoundPage(Schema):
    items = fields.List(fields.Nested(RoundOut))
    next = fields.String(allow_none=True)


class MonthlyReport(Schema):
    items = fields.List(fields.Nested(MonthlyRowOut))
    next = fields.String(allow_none=True)


class ReportQuery(StrictSchema):
    """``GET /api/v1/reports/monthly``: a month of the programme (from 2021-09)."""

    month = fields.String(required=True, validate=validate.Regexp(MONTH_PATTERN, error="Phải có dạng YYYY-MM, từ 2021-09."),
                          metadata={"description": "YYYY-MM"})
