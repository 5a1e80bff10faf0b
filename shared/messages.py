"""Every message that crosses a service boundary, defined once.

A message is a small frozen dataclass with its marshmallow schema and its task name; the name's
prefix is the queue of the service that consumes it (``council.…`` runs on the ``council``
queue). Producers validate when they emit, consumers when they receive (``decode``).
Commands are imperative (``CloseIntroductions``), events past tense (``DeedInscribed``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from marshmallow import Schema, ValidationError, fields, validate

from shared.ids import new_id

STATUSES = ("recorded", "introduced", "in_round", "recognised", "not_selected", "proposed", "inscribed", "referred",
            "revoked")


class MessageError(ValueError):
    """A message that does not match its schema, or of an unknown type."""


# -- payload parts ------------------------------------------------------------------------------
class AuthorSchema(Schema):
    officer = fields.String()
    collective = fields.String()
    name = fields.String(required=True)


class EvidenceRefSchema(Schema):
    sha256 = fields.String(required=True, validate=validate.Length(equal=64))
    size = fields.Integer(required=True)
    content_type = fields.String(required=True)


class DeedCopySchema(Schema):
    """The frozen copy of a deed that leaves intake: public fields only, never beneficiaries."""

    id = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["good_deed", "achievement", "feat", "exemplar"]))
    relation = fields.String(required=True, validate=validate.OneOf(["direct", "indirect"]))
    occurred_on = fields.String(required=True)
    month = fields.String(required=True)
    place = fields.String(allow_none=True, load_default=None)
    author = fields.Nested(AuthorSchema, required=True)
    unit = fields.String(required=True)
    subunit = fields.String(allow_none=True, load_default=None)
    evidence = fields.List(fields.Nested(EvidenceRefSchema), load_default=list)


class DecisionSchema(Schema):
    number = fields.String(required=True)
    date = fields.String(required=True)
    issuer = fields.String(required=True)
    issuer_name = fields.String(load_default="")


class TallySchema(Schema):
    approve = fields.Integer(required=True)
    reject = fields.Integer(required=True)
    abstain = fields.Integer(required=True)
    entitled = fields.Integer(required=True)
    ratio = fields.String(required=True)
    round = fields.String(required=True)
    round_kind = fields.String(required=True)
    period = fields.String(required=True)


# -- the catalogue ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Message:
    TYPE: ClassVar[str]
    SCHEMA: ClassVar[type[Schema]]
    # Above 0: messages of this type with equal ``merge_key`` may travel as one (``merged``), up
    # to this many items (``merge_size``). Only for a consumer that applies each item once
    # whichever message carries it.
    MERGE_LIMIT: ClassVar[int] = 0

    @staticmethod
    def merge_key(payload: dict[str, Any]) -> Any:
        """What payloads that may travel as one have in common."""
        raise NotImplementedError

    @staticmethod
    def merge_size(payload: dict[str, Any]) -> int:
        """How many items a payload carries (counted against ``MERGE_LIMIT``)."""
        raise NotImplementedError

    @staticmethod
    def merged(payloads: list[dict[str, Any]]) -> dict[str, Any]:
        """The one payload that carries all of ``payloads``."""
        raise NotImplementedError

    @property
    def queue(self) -> str:
        return self.TYPE.split(".", 1)[0]

    def payload(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        errors = schema_of(type(self)).validate(data)
        if errors:
            raise MessageError(f"{self.TYPE}: {errors}")
        return data


CATALOGUE: dict[str, type[Message]] = {}
# One schema instance per message class: marshmallow schemas are reusable, and building one per
# message was a measurable share of a batch of 1000 deeds.
_SCHEMAS: dict[type[Message], Schema] = {}


def message(cls: type[Message]) -> type[Message]:
    CATALOGUE[cls.TYPE] = cls
    return cls


def schema_of(cls: type[Message]) -> Schema:
    schema = _SCHEMAS.get(cls)
    if schema is None:
        schema = _SCHEMAS[cls] = cls.SCHEMA()
    return schema


class _DeedRecordedSchema(Schema):
    deed_id = fields.String(required=True)
    unit = fields.String(required=True)
    month = fields.String(required=True)


@message
@dataclass(frozen=True)
class DeedRecorded(Message):
    """intake → council: a deed was recorded (R10 counts)."""

    TYPE = "council.deed_recorded"
    SCHEMA = _DeedRecordedSchema
    deed_id: str
    unit: str
    month: str


class _DeedsRecordedSchema(Schema):
    unit = fields.String(required=True)
    month = fields.String(required=True)
    deed_ids = fields.List(fields.String(), required=True, validate=validate.Length(min=1))


@message
@dataclass(frozen=True)
class DeedsRecorded(Message):
    """intake → council: deeds of one unit and month were recorded together (R10 counts).

    A batch tells council once per (unit, month) instead of once per deed, so the counting
    costs one message and one transaction per batch. ``DeedRecorded`` stays in the catalogue
    so that messages already in an outbox are still understood."""

    TYPE = "council.deeds_recorded"
    SCHEMA = _DeedsRecordedSchema
    unit: str
    month: str
    deed_ids: list[str] = field(default_factory=list)

    # Council counts each deed once whichever message named it, so the relay may send several of
    # these as one (shared.outbox.coalesce): one message per request would cost council a task,
    # a transaction and two Redis round trips per deed under a stream of single deeds.
    MERGE_LIMIT: ClassVar[int] = 1000  # deed ids in one merged message

    @staticmethod
    def merge_key(payload: dict[str, Any]) -> tuple[str, str]:
        return payload["unit"], payload["month"]

    @staticmethod
    def merge_size(payload: dict[str, Any]) -> int:
        return len(payload["deed_ids"])

    @staticmethod
    def merged(payloads: list[dict[str, Any]]) -> dict[str, Any]:
        first = payloads[0]
        ids = dict.fromkeys(i for p in payloads for i in p["deed_ids"])
        return {"unit": first["unit"], "month": first["month"], "deed_ids": list(ids)}


@message
@dataclass(frozen=True)
class DeedIntroduced(Message):
    """intake → council: a deed was introduced to its unit (R5, R10 counts)."""

    TYPE = "council.deed_introduced"
    SCHEMA = _DeedRecordedSchema
    deed_id: str
    unit: str
    month: str


class _CloseIntroductionsSchema(Schema):
    round_id = fields.String(required=True)
    council = fields.String(required=True)
    unit = fields.String(required=True)
    month = fields.String(required=True)


@message
@dataclass(frozen=True)
class CloseIntroductions(Message):
    """council → intake: a monthly round is opening; close the month to introductions (API.md)."""

    TYPE = "intake.close_introductions"
    SCHEMA = _CloseIntroductionsSchema
    round_id: str
    council: str
    unit: str
    month: str


class _ReopenIntroductionsSchema(Schema):
    round_id = fields.String(required=True)
    unit = fields.String(required=True)
    month = fields.String(required=True)


@message
@dataclass(frozen=True)
class ReopenIntroductions(Message):
    """council → intake: a monthly round was cancelled before any ballot (R20a); the month takes
    introductions again and the round's deeds go back to how they were."""

    TYPE = "intake.reopen_introductions"
    SCHEMA = _ReopenIntroductionsSchema
    round_id: str
    unit: str
    month: str


class _IntroductionsClosedSchema(Schema):
    round_id = fields.String(required=True)
    unit = fields.String(required=True)
    month = fields.String(required=True)
    recorded = fields.Integer(required=True)
    deeds = fields.List(fields.Nested(DeedCopySchema), required=True)


@message
@dataclass(frozen=True)
class IntroductionsClosed(Message):
    """intake → council: the final list of a unit's introductions for a month, frozen copies."""

    TYPE = "council.introductions_closed"
    SCHEMA = _IntroductionsClosedSchema
    round_id: str
    unit: str
    month: str
    recorded: int
    deeds: list[dict[str, Any]] = field(default_factory=list)


class _DeedFateSchema(Schema):
    deed_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    round_id = fields.String(required=True)


@message
@dataclass(frozen=True)
class DeedFateDecided(Message):
    """council → intake: what a round made of a deed (in_round, recognised, not_selected, …)."""

    TYPE = "intake.deed_fate"
    SCHEMA = _DeedFateSchema
    deed_id: str
    status: str
    round_id: str


class _InscribeSchema(Schema):
    book = fields.String(required=True)
    source = fields.String(required=True)
    deed = fields.Nested(DeedCopySchema, required=True)
    decision = fields.Nested(DecisionSchema, required=True)
    tally = fields.Nested(TallySchema, required=True)


@message
@dataclass(frozen=True)
class Inscribe(Message):
    """council → book: inscribe a recognised deed (R8, R14). ``source`` is unique per inscription
    (round and candidate), so a redelivered command never makes a second entry."""

    TYPE = "book.inscribe"
    SCHEMA = _InscribeSchema
    book: str
    source: str
    deed: dict[str, Any]
    decision: dict[str, Any]
    tally: dict[str, Any]


class _RepublishPagesSchema(Schema):
    book = fields.String(required=True)
    seqs = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1))
    at = fields.String(required=True)


@message
@dataclass(frozen=True)
class RepublishPages(Message):
    """book → book: regenerate the pages an inscription changed (honour roll, period pages,
    figures, press releases) after the inscription's own transaction, which publishes only the
    entry and its feeds. ``at`` is the entry's time (the pages' ``Last-Modified``)."""

    TYPE = "book.republish_pages"
    SCHEMA = _RepublishPagesSchema
    book: str
    seqs: list[int] = field(default_factory=list)
    at: str = ""


class _DeedInscribedSchema(Schema):
    deed_id = fields.String(required=True)
    book = fields.String(required=True)
    seq = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["inscription", "revocation"]))


@message
@dataclass(frozen=True)
class DeedInscribed(Message):
    """book → intake (and council): an entry about a deed was appended to a golden book."""

    TYPE = "intake.deed_inscribed"
    SCHEMA = _DeedInscribedSchema
    deed_id: str
    book: str
    seq: int
    kind: str = "inscription"


class _DeedRevokedSchema(Schema):
    deed_id = fields.String(required=True)
    unit = fields.String(required=True)
    month = fields.String(required=True)
    book = fields.String(required=True)
    seq = fields.Integer(required=True)
    revokes = fields.Integer(required=True)


@message
@dataclass(frozen=True)
class DeedRevoked(Message):
    """book → council: a recognition was revoked (R15a), entry ``revokes`` of ``book`` by entry
    ``seq``. Council withdraws the deed from every round still open and never puts it to the vote
    again; intake learns it from the ``DeedInscribed`` of the revocation; book itself refuses
    any later inscription of the deed."""

    TYPE = "council.deed_revoked"
    SCHEMA = _DeedRevokedSchema
    deed_id: str
    unit: str
    month: str
    book: str
    seq: int
    revokes: int


class _TokensRevokedSchema(Schema):
    token_hashes = fields.List(fields.String(validate=validate.Length(equal=64)), required=True,
                               validate=validate.Length(min=1))
    role = fields.String(required=True)  # "*": every token of the subject
    subject = fields.String(required=True)
    by = fields.String(required=True)


@message
@dataclass(frozen=True)
class TokensRevoked(Message):
    """intake → council: an admin revoked program tokens on ``/admin/`` (R24); council revokes its
    copy of them (``token_hashes``, SHA-256 only, never a token) and records it (R23)."""

    TYPE = "council.tokens_revoked"
    SCHEMA = _TokensRevokedSchema
    token_hashes: list[str]
    role: str
    subject: str
    by: str


@message
@dataclass(frozen=True)
class BookTokensRevoked(TokensRevoked):
    """intake → book: the same revocation, for book's copy of the tokens."""

    TYPE = "book.tokens_revoked"


class _DossierSentSchema(Schema):
    dossier_id = fields.String(required=True)
    deed_id = fields.String(required=True)
    quarter = fields.String(required=True)
    unit = fields.String(required=True)
    quarterly_round_id = fields.String(required=True)
    deed = fields.Nested(DeedCopySchema, required=True)
    evidence = fields.List(fields.Nested(EvidenceRefSchema), required=True)
    monthly_decision = fields.Dict(required=True)
    monthly_tally = fields.Dict(required=True)
    quarterly_tally = fields.Dict(required=True)


@message
@dataclass(frozen=True)
class DossierSent(Message):
    """a unit council → the provincial council: the proposal dossier of an exemplary deed (R11):
    the deed, its evidence, its monthly decision and tally, the quarterly tally. Both councils
    live in the council service today; the message keeps the province's intake of dossiers the
    same whether or not it ever runs apart."""

    TYPE = "council.dossier_sent"
    SCHEMA = _DossierSentSchema
    dossier_id: str
    deed_id: str
    quarter: str
    unit: str
    quarterly_round_id: str
    deed: dict[str, Any]
    evidence: list[dict[str, Any]]
    monthly_decision: dict[str, Any]
    monthly_tally: dict[str, Any]
    quarterly_tally: dict[str, Any]


class _OrganisationStepSchema(Schema):
    load_id = fields.String(required=True)
    digest = fields.String(required=True, validate=validate.Length(equal=64))
    document = fields.Dict(required=True)
    by = fields.String(required=True)
    file = fields.String(load_default="")


@dataclass(frozen=True)
class _OrganisationStep(Message):
    """intake → a service: one step of loading an organisation from the admin's page (R25,
    ``services.intake.organisation``): ``document`` (its ``digest``), asked for by the admin
    ``by`` with the file ``file``, under the load ``load_id``. The service answers with an
    ``OrganisationVerdict``."""

    SCHEMA = _OrganisationStepSchema
    load_id: str
    digest: str
    document: dict[str, Any]
    by: str
    file: str = ""


@message
@dataclass(frozen=True)
class CheckOrganisationCouncil(_OrganisationStep):
    """intake → council: say what would stop this organisation (rounds it would orphan); write nothing."""

    TYPE = "council.check_organisation"


@message
@dataclass(frozen=True)
class LoadOrganisationCouncil(_OrganisationStep):
    """intake → council: load this organisation, checking again under the open rounds' locks."""

    TYPE = "council.load_organisation"


@message
@dataclass(frozen=True)
class CheckOrganisationBook(_OrganisationStep):
    """intake → book: say what would stop this organisation (a closed book named again); write nothing."""

    TYPE = "book.check_organisation"


@message
@dataclass(frozen=True)
class LoadOrganisationBook(_OrganisationStep):
    """intake → book: load this organisation (open and close books), checking again first."""

    TYPE = "book.load_organisation"


class _OrganisationVerdictSchema(Schema):
    load_id = fields.String(required=True)
    service = fields.String(required=True, validate=validate.OneOf(["council", "book"]))
    step = fields.String(required=True, validate=validate.OneOf(["check", "load"]))
    ok = fields.Boolean(required=True)
    changed = fields.Boolean(load_default=False)
    problems = fields.List(fields.String(), load_default=list)


@message
@dataclass(frozen=True)
class OrganisationVerdict(Message):
    """council or book → intake: what a step of a load made (``ok``: nothing stops it, or loaded;
    ``changed``: the load changed the service, False when it already had the document), and
    otherwise why not (``problems``, in Vietnamese, as ``sovang org load`` prints them)."""

    TYPE = "intake.organisation_verdict"
    SCHEMA = _OrganisationVerdictSchema
    load_id: str
    service: str
    step: str
    ok: bool
    changed: bool = False
    problems: list[str] = field(default_factory=list)


# -- envelopes ----------------------------------------------------------------------------------
def envelope(msg: Message, occurred_at: str) -> dict[str, Any]:
    """The JSON body a task carries: id (for the consumer's inbox), type, payload."""
    return {"id": new_id(), "type": msg.TYPE, "occurred_at": occurred_at, "payload": msg.payload()}


def decode(env: dict[str, Any]) -> tuple[str, Message]:
    """Validate an envelope on receipt: (message id, message)."""
    if not isinstance(env, dict) or not isinstance(env.get("id"), str):
        raise MessageError("envelope without an id")
    cls = CATALOGUE.get(env.get("type", ""))
    if cls is None:
        raise MessageError(f"unknown message type {env.get('type')!r}")
    try:
        data = schema_of(cls).load(env.get("payload") or {})
    except ValidationError as exc:
        raise MessageError(f"{cls.TYPE}: {exc.messages}") from exc
    return env["id"], cls(**data)
