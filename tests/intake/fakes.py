"""intake's unit of work held in memory (cosmicpython's ``FakeUnitOfWork``): the same methods as
``services.intake.repository.Work``, over dicts, so that a use case runs without a database.
What it wrote, emitted and recorded in the audit is there to look at; it never commits (the
entrypoint would)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from services.intake.domain.deed import Closure, Deed, Evidence, UnitMonth
from services.intake.domain.org_load import RUNNING, OrgLoad
from services.intake.domain.signin import StoredSession
from services.intake.domain.text import matches
from tests.fake_work import FakeUnitOfWork


class FakeDeeds:
    def __init__(self) -> None:
        self.by_id: dict[str, Deed] = {}
        self.files: dict[str, tuple[str, bytes]] = {}
        self.attached: dict[str, list[str]] = {}
        self.months: dict[tuple[str, str], UnitMonth] = {}
        self.closures: dict[str, Closure] = {}

    # -- deeds -----------------------------------------------------------------------------------
    def add(self, new: list[Deed]) -> None:
        for deed in new:
            assert deed.id not in self.by_id
            self.by_id[deed.id] = deed

    def get(self, deed_id: str, *, fresh: bool = False, lock: bool = False) -> Deed | None:
        return self.by_id.get(deed_id)

    def change(self, deed_id: str, **values: Any) -> None:
        if "book_entries" in values:
            values["book_entries"] = tuple(values["book_entries"])
        self.by_id[deed_id] = replace(self.by_id[deed_id], **values)

    def find(self, *, unit: str | None, also_by_officer: str | None, month: str | None, status: str | None,
             q: str, limit: int, after: str | None) -> list[Deed]:
        def kept(d: Deed) -> bool:
            in_unit = unit is None or d.unit == unit or (also_by_officer is not None and d.by_officer(also_by_officer))
            return (in_unit and (not month or d.month == month) and (not status or d.status == status)
                    and matches(q, d.title, d.description) and (after is None or d.id > after))

        return sorted((d for d in self.by_id.values() if kept(d)), key=lambda d: d.id)[:limit]

    def any_in(self, unit: str) -> bool:
        return any(d.unit == unit for d in self.by_id.values())

    def introduced_by_unit(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.by_id.values():
            if d.status == "introduced":
                out[d.unit] = out.get(d.unit, 0) + 1
        return dict(sorted(out.items()))

    def candidates(self, unit: str, month: str, statuses: Any) -> list[Deed]:
        return sorted((d for d in self.by_id.values() if d.unit == unit and d.status in statuses and (
            (d.month == month and not d.carried_over)
            or (d.carried_over and d.month < month and d.carried_to in (None, month)))), key=lambda d: d.id)

    def recorded_in(self, unit: str, month: str) -> int:
        return sum(1 for d in self.by_id.values() if d.unit == unit and d.month == month)

    def of_status(self, ids: list[str], status: str) -> list[Deed]:
        return [self.by_id[i] for i in ids if i in self.by_id and self.by_id[i].status == status]

    # -- evidence --------------------------------------------------------------------------------
    def evidence_of(self, deed_ids: list[str]) -> dict[str, list[Evidence]]:
        return {i: [Evidence(sha, len(self.files[sha][1]), self.files[sha][0]) for sha in self.attached.get(i, [])]
                for i in deed_ids}

    def keep_file(self, sha256: str, content_type: str, data: bytes, at: dt.datetime) -> None:
        self.files.setdefault(sha256, (content_type, data))

    def attach(self, deed_id: str, sha256: str, at: dt.datetime, by: str) -> bool:
        shas = self.attached.setdefault(deed_id, [])
        if sha256 in shas:
            return False
        shas.append(sha256)
        return True

    def file(self, deed_id: str, sha256: str) -> tuple[str, bytes] | None:
        return self.files[sha256] if sha256 in self.attached.get(deed_id, []) else None

    # -- a unit's months -------------------------------------------------------------------------
    def lock_month(self, unit: str, month: str) -> UnitMonth:
        return self.months.setdefault((unit, month), UnitMonth(unit, month))

    def mark_month(self, unit: str, month: str, closed_at: dt.datetime | None, closed_by_round: str | None) -> None:
        self.months[(unit, month)] = UnitMonth(unit, month, closed_at, closed_by_round)

    def lock_carries(self, unit: str) -> None:
        pass

    def closure(self, round_id: str) -> Closure | None:
        return self.closures.get(round_id)

    def add_closure(self, closure: Closure) -> None:
        self.closures[closure.round_id] = closure

    def newest_closure_after(self, closure: Closure) -> str | None:
        later = [c for c in self.closures.values() if (c.unit, c.month) == (closure.unit, closure.month)
                 and c.closed_at > closure.closed_at]
        return max(later, key=lambda c: c.closed_at).round_id if later else None


class FakePeople:
    """Passwords, sessions and failed sign-ins, as ``repository.People`` keeps them."""

    def __init__(self) -> None:
        self.passwords: dict[str, tuple[str, dt.datetime, str]] = {}
        self.failures: list[tuple[str, str, dt.datetime]] = []
        self.sessions: dict[str, StoredSession] = {}

    def password_hash(self, subject: str) -> str | None:
        return self.passwords[subject][0] if subject in self.passwords else None

    def set_password(self, subject: str, digest: str, at: dt.datetime, by: str) -> None:
        self.passwords[subject] = (digest, at, by)

    def rehash(self, subject: str, digest: str) -> None:
        _, at, by = self.passwords[subject]
        self.passwords[subject] = (digest, at, by)

    def with_passwords(self, live_since: dt.datetime) -> list[dict[str, Any]]:
        return [{"subject": subject, "set_at": at, "sessions": sum(
            1 for s in self.sessions.values()
            if s.subject == subject and s.ended_at is None and s.last_seen_at > live_since)}
            for subject, (_, at, _) in sorted(self.passwords.items())]

    def failures_since(self, subject: str, address: str, since: dt.datetime) -> tuple[int, int]:
        recent = [f for f in self.failures if f[2] > since]
        return sum(1 for f in recent if f[0] == subject), sum(1 for f in recent if f[1] == address)

    def add_failure(self, subject: str, address: str, at: dt.datetime, forget_before: dt.datetime) -> None:
        self.failures = [f for f in self.failures if f[2] > forget_before]
        self.failures.append((subject[:64], address[:64], at))

    def clear_failures(self, subject: str) -> None:
        self.failures = [f for f in self.failures if f[0] != subject]

    def add_session(self, session: StoredSession) -> None:
        assert session.digest not in self.sessions
        self.sessions[session.digest] = session

    def session(self, digest: str) -> StoredSession | None:
        return self.sessions.get(digest)

    def touch(self, digest: str, at: dt.datetime) -> None:
        self.sessions[digest] = replace(self.sessions[digest], last_seen_at=at)

    def set_role(self, digest: str, role: str) -> None:
        self.sessions[digest] = replace(self.sessions[digest], role=role)

    def end(self, digest: str, why: str, at: dt.datetime) -> StoredSession | None:
        found = self.sessions.get(digest)
        if found is None or found.ended_at is not None:
            return None
        self.sessions[digest] = replace(found, ended_at=at, ended_why=why)
        return self.sessions[digest]

    def end_all(self, subject: str, why: str, at: dt.datetime) -> int:
        live = [s for s in self.sessions.values() if s.subject == subject and s.ended_at is None]
        for s in live:
            self.sessions[s.digest] = replace(s, ended_at=at, ended_why=why)
        return len(live)


class FakeOrgLoads:
    """The organisation loads of the admin's page, as ``repository.OrgLoads`` keeps them."""

    def __init__(self) -> None:
        self.by_id: dict[str, OrgLoad] = {}

    def running_since(self, since: dt.datetime) -> OrgLoad | None:
        running = [x for x in self.by_id.values() if x.state in RUNNING and x.requested_at >= since]
        return max(running, key=lambda x: x.requested_at) if running else None

    def add(self, load: OrgLoad) -> None:
        assert load.id not in self.by_id
        self.by_id[load.id] = load

    def get(self, load_id: str, *, lock: bool = False) -> OrgLoad | None:
        return self.by_id.get(load_id)

    def update(self, load: OrgLoad) -> None:
        self.by_id[load.id] = load

    def recent(self, limit: int) -> list[dict[str, Any]]:
        newest = sorted(self.by_id.values(), key=lambda x: (x.requested_at, x.id), reverse=True)[:limit]
        return [{"id": x.id, "file": x.file, "digest": x.digest, "requested_by": x.requested_by,
                 "requested_at": x.requested_at, "state": x.state, "finished_at": x.finished_at} for x in newest]


class FakeTokens:
    """intake's copy of the program tokens, as ``repository.Tokens`` keeps it: by hash."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    def add(self, token_hash: str, role: str, subject: str, issued_at: dt.datetime, expires_at: dt.datetime) -> None:
        self.rows[token_hash] = {"token_hash": token_hash, "role": role, "subject": subject, "issued_at": issued_at,
                                 "expires_at": expires_at, "last_used_at": None, "revoked_at": None}

    def _in_force(self, now: dt.datetime) -> list[dict[str, Any]]:
        return [r for r in self.rows.values() if r["revoked_at"] is None and r["expires_at"] > now]

    def in_force(self, now: dt.datetime) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "revoked_at"}
                for r in sorted(self._in_force(now), key=lambda r: (r["subject"], r["issued_at"]))]

    def matching(self, now: dt.datetime, *, hash_prefix: str | None = None,
                 subject: str | None = None) -> list[tuple[str, str, str]]:
        return [(r["token_hash"], r["role"], r["subject"]) for r in self._in_force(now)
                if (r["token_hash"].startswith(hash_prefix) if hash_prefix is not None else r["subject"] == subject)]

    def revoke(self, hashes: list[str], at: dt.datetime) -> None:
        for h in hashes:
            if self.rows[h]["revoked_at"] is None:
                self.rows[h]["revoked_at"] = at


class FakeWork(FakeUnitOfWork):
    """What a use case of intake is given as its unit of work."""

    def __init__(self) -> None:
        super().__init__()
        self.deeds = FakeDeeds()
        self.people = FakePeople()
        self.org_loads = FakeOrgLoads()
        self.tokens = FakeTokens()

    def record(self, new: list[Any], messages: list[Any], lines: list[tuple[Any, ...]],
               at: dt.datetime | None = None) -> None:
        self.deeds.add(new)
        self.emit_many(messages)
        self.audit(lines, at)

    def keep_organisation(self, doc: dict[str, Any], actor: Any, details: dict[str, Any] | None) -> bool:
        if doc == self.organisation:
            return False
        self.organisation = doc
        self.lines.append((actor, "org.loaded", "", None, details or {}))
        return True
