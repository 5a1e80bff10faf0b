"""R25 from the admin's page, on council's and book's side: the two steps intake asks of them
when an admin loads an organisation (``services.intake.organisation`` tells the whole story).

- check: the service's own use case ``check_org(uow, ctx, doc)`` (what would stop the document
  here), written nowhere but in the answer;
- load: the service's use case ``load_org(uow, ctx, doc, actor=…, details=…)`` in the consumer's
  transaction, so that the organisation, the
  answer (outbox) and the message's inbox row are committed together or not at all; it checks
  again under the service's locks and refuses (``OrgRefused``) with nothing written.

Each step answers with one ``OrganisationVerdict``. A redelivered step is absorbed by the
consumer's inbox; were it applied again all the same, loading a document a service already has
changes nothing there, and intake takes only the first answer of each step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared import audit
from shared.context import Context
from shared.db import UnitOfWork
from shared.messages import MessageError, OrganisationVerdict
from shared.org import Organisation, OrgRefused

Check = Callable[[Any, Context, dict[str, Any]], list[str]]
Load = Callable[..., bool]


def _document(msg: Any) -> dict[str, Any]:
    """The step's document, as intake read it from the admin's file (its digest travels beside it)."""
    if Organisation.digest(msg.document) != msg.digest:
        raise MessageError(f"{msg.TYPE}: the document does not match its digest {msg.digest}")
    return msg.document


def check(service: str, uow: UnitOfWork, ctx: Context, msg: Any, check_org: Check) -> None:
    problems = check_org(uow, ctx, _document(msg))
    uow.emit(OrganisationVerdict(load_id=msg.load_id, service=service, step="check", ok=not problems,
                                 problems=list(problems)))


def load(service: str, uow: UnitOfWork, ctx: Context, msg: Any, load_org: Load) -> None:
    # R23: the admin who asked, the file and the load, on the service's own line.
    actor = audit.Named("admin", msg.by)
    try:
        changed = load_org(uow, ctx, _document(msg), actor=actor, details={"load": msg.load_id, "file": msg.file})
    except OrgRefused as refused:
        # Refused before anything was written (``load_org`` checks first): only the answer goes.
        uow.emit(OrganisationVerdict(load_id=msg.load_id, service=service, step="load", ok=False,
                                     problems=list(refused.problems)))
        return
    uow.emit(OrganisationVerdict(load_id=msg.load_id, service=service, step="load", ok=True, changed=changed))
