"""R25 from the browser: an admin loads a new organisation at ``/admin/organisation/`` and intake
carries it to every service through their messages, as ``sovang org load`` does by reading each
service's database (``sovang.orgload``), which the distributed deployment does not allow (each
service has its own database role).

How a load goes (one row of ``org_loads`` keeps where it is, per service):

1. The page reads the file with the parser of the command line (``Organisation.loadable``) and
   refuses a bad one beside the field, nothing written. Otherwise, in one transaction: the load
   is kept (id, file name, digest, the admin who sent it: R23's ``org.load_requested``), intake
   runs its own ``check_org``, and ``CheckOrganisationCouncil`` and ``CheckOrganisationBook`` go
   to the outbox.
2. council and book answer each with an ``OrganisationVerdict`` (``shared.org_steps``): what
   would stop the document there, in Vietnamese, or nothing.
3. Once every service has answered: if one objects, the load is refused and nothing was written
   anywhere (the reasons are shown per service). Otherwise intake asks the services to load it
   one after the other in the order of the command line — council (``LoadOrganisationCouncil``),
   then book once council has it (``LoadOrganisationBook``), then intake itself once book has it
   — each checking again under its locks in the transaction that loads it.
4. A refusal at that point (something changed since the check: a round opened, a deed
   introduced) stops the load where it is, with its reason: the services before it have the new
   organisation, those after do not. As ``sovang.orgload`` explains, loading the same file again
   once the cause is dealt with completes the others — a service that already has it changes
   nothing — and loading a file already loaded everywhere changes nothing anywhere.

Every answer is taken once: a message delivered again is absorbed by the inbox, and an answer
for a step already answered (or no longer awaited) is ignored, so nothing happens twice. A file
waits for the load before it to finish, so that two files never interleave their steps, unless
that load has run for more than ``BUSY_MINUTES``: one of its messages was most likely parked, and
its page then says where to look (the admin's parked messages; sent again, the load goes on).

Use cases ``fn(uow, ctx, …)`` over intake's unit of work (``uow.org_loads``): the admin's page
(``organisation_pages``) and the consumer of the verdicts (``worker``) commit.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from typing import Any

from services.intake import services
from services.intake.domain.org_load import ORDER, RUNNING, OrgLoad
from services.intake.repository import Work
from shared import audit
from shared.context import Context
from shared.ids import new_id
from shared.messages import (
    CheckOrganisationBook,
    CheckOrganisationCouncil,
    LoadOrganisationBook,
    LoadOrganisationCouncil,
    MessageError,
    OrganisationVerdict,
)
from shared.org import FORMAT, Organisation, OrgError, OrgRefused
from shared.refusals import Invalid

__all__ = ["BUSY_MINUTES", "MAX_FILE_BYTES", "ORDER", "RUNNING", "BadFile", "Started", "get", "read_file", "recent",
           "start", "verdict"]

LOAD_STEP = {"council": LoadOrganisationCouncil, "book": LoadOrganisationBook}
CHECK_STEP = {"council": CheckOrganisationCouncil, "book": CheckOrganisationBook}
# A load still running this recently keeps another file from starting; an older one is taken
# for stuck (a message parked) and no longer stands in the way.
BUSY_MINUTES = 15
MAX_FILE_BYTES = 8 * 1024 * 1024


class BadFile(Invalid):
    """A file the page refuses beside its field; nothing written."""


@dataclass(frozen=True)
class Started:
    load_id: str
    new: bool  # False: the same file was already being loaded (a second press), nothing added


def read_file(content: bytes) -> dict[str, Any]:
    """The organisation document of an uploaded file, read as ``sovang org load`` reads it."""
    if not content:
        raise BadFile("Tệp trống: hãy chọn tệp tổ chức (.json).")
    if len(content) > MAX_FILE_BYTES:
        raise BadFile(f"Tệp tổ chức tối đa {MAX_FILE_BYTES // (1024 * 1024)} MiB.")
    try:
        doc = json.loads(content.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise BadFile("Tệp không phải văn bản UTF-8: tệp tổ chức là tệp JSON.") from None
    except ValueError as exc:
        raise BadFile(f"Tệp không phải JSON hợp lệ (dòng {getattr(exc, 'lineno', '?')}).") from None
    if not isinstance(doc, dict):
        raise BadFile(f"Tệp không phải tệp tổ chức: cần một đối tượng JSON định dạng {FORMAT}.")
    try:
        Organisation.loadable(doc)
    except OrgError as exc:
        raise BadFile(_why(doc, exc)) from None
    return doc


def _why(doc: dict[str, Any], exc: OrgError) -> str:
    if doc.get("format") != FORMAT:
        return f"Tệp không theo định dạng {FORMAT} (trường format)."
    cause = exc.__cause__
    if isinstance(cause, KeyError):
        return f"Tệp tổ chức không hợp lệ: thiếu trường {cause.args[0]!r}."
    if cause is not None:
        return f"Tệp tổ chức không hợp lệ: một trường không đúng kiểu ({type(cause).__name__})."
    return f"Tệp tổ chức không hợp lệ: {exc}"


def start(uow: Work, ctx: Context, admin: str, file: str, doc: dict[str, Any]) -> Started:
    """Keep the load of ``doc`` asked for by ``admin``, check it here and ask council and book
    to check it. Refuses (``BadFile``) when another file is being loaded."""
    digest = Organisation.digest(doc)
    file = (file or "")[:200]
    org = Organisation.loadable(doc)
    running = uow.org_loads.running_since(ctx.now - dt.timedelta(minutes=BUSY_MINUTES))
    if running is not None and running.digest == digest:
        return Started(running.id, new=False)
    if running is not None:
        raise BadFile(f"Tệp {running.file} đang được nạp; hãy chờ lần nạp đó xong rồi gửi tệp này.")
    # A check only, as council's and book's: intake checks again when it loads, last.
    problems = services.check_org(uow, ctx, doc)
    steps = {
        "intake": {"state": "refused" if problems else "ready", "problems": problems},
        "council": {"state": "checking", "problems": []},
        "book": {"state": "checking", "problems": []},
    }
    load = OrgLoad(new_id(), file, digest, doc, admin, ctx.now, "checking", steps)
    uow.org_loads.add(load)
    uow.audit([(audit.Named("admin", admin), "org.load_requested", load.id, org.province_code, {
        "file": file, "digest": digest, "province": org.province_code, "units": len(org.units),
        "officers": len(org.officers)})], at=ctx.now)
    for cls in CHECK_STEP.values():
        uow.emit(cls(load_id=load.id, digest=digest, document=doc, by=admin, file=file))
    return Started(load.id, new=True)


def _step(kind: Any, load: OrgLoad) -> Any:
    return kind(load_id=load.id, digest=load.digest, document=load.document, by=load.requested_by, file=load.file)


def verdict(uow: Work, ctx: Context, msg: OrganisationVerdict) -> None:
    """A service's answer to a step (consumer of ``intake.organisation_verdict``): record it and
    take the load one step further."""
    load = uow.org_loads.get(msg.load_id, lock=True)
    if load is None:
        raise MessageError(f"{msg.TYPE}: no organisation load {msg.load_id}")
    steps = {name: dict(step) for name, step in load.steps.items()}
    step = steps[msg.service]
    awaited = "checking" if msg.step == "check" else "loading"
    if step["state"] != awaited:
        return  # an answer already taken (or no longer awaited): nothing twice
    state, finished = load.state, None
    admin = audit.Named("admin", load.requested_by)
    if msg.step == "check":
        step.update(state="ready" if msg.ok else "refused", problems=list(msg.problems))
        if all(s["state"] != "checking" for s in steps.values()):
            if any(s["state"] == "refused" for s in steps.values()):
                state, finished = "refused", ctx.now
                uow.audit([(admin, "org.load_refused", load.id, None, {
                    "file": load.file, "digest": load.digest,
                    "services": [name for name in ORDER if steps[name]["state"] == "refused"]})], at=ctx.now)
            else:
                state = "loading"
                steps[ORDER[0]]["state"] = "loading"
                uow.emit(_step(LOAD_STEP[ORDER[0]], load))
    elif not msg.ok:
        step.update(state="load_refused", problems=list(msg.problems))
        state, finished = "stopped", ctx.now
    else:
        step.update(state="loaded", changed=msg.changed, problems=[])
        following = ORDER[ORDER.index(msg.service) + 1]
        steps[following]["state"] = "loading"
        if following in LOAD_STEP:
            uow.emit(_step(LOAD_STEP[following], load))
        else:
            state, finished = _load_here(uow, ctx, load, steps[following], admin)
    if state == "stopped":
        uow.audit([(admin, "org.load_stopped", load.id, None, {
            "file": load.file, "digest": load.digest,
            "loaded": [name for name in ORDER if steps[name]["state"] == "loaded"],
            "refused_by": next(name for name in ORDER if steps[name]["state"] == "load_refused")})], at=ctx.now)
    uow.org_loads.update(replace(load, state=state, steps=steps, finished_at=finished))


def _load_here(uow: Work, ctx: Context, load: OrgLoad, step: dict[str, Any],
               admin: audit.Named) -> tuple[str, dt.datetime]:
    """intake's own load, last, in the transaction that takes book's answer."""
    try:
        changed = services.load_org(uow, ctx, load.document, actor=admin,
                                    details={"load": load.id, "file": load.file})
    except OrgRefused as refused:
        step.update(state="load_refused", problems=list(refused.problems))
        return "stopped", ctx.now
    step.update(state="loaded", changed=changed, problems=[])
    return "loaded", ctx.now


# -- reading ------------------------------------------------------------------------------------
def recent(uow: Work, ctx: Context, limit: int = 20) -> list[dict[str, Any]]:
    """The newest loads first, for the admin's page."""
    return uow.org_loads.recent(limit)


def get(uow: Work, ctx: Context, load_id: str) -> dict[str, Any] | None:
    """A load as its page shows it: without its document, with a summary of the organisation."""
    load = uow.org_loads.get(load_id)
    if load is None:
        return None
    org = Organisation.from_document(load.document)
    return {"id": load.id, "file": load.file, "digest": load.digest, "requested_by": load.requested_by,
            "requested_at": load.requested_at, "state": load.state, "steps": load.steps,
            "finished_at": load.finished_at,
            "summary": {"province": org.province_name, "units": len(org.units), "subunits": len(org.subunits),
                        "officers": len(org.officers)}}
