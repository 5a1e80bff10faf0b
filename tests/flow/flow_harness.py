"""The three services in one process, talking as their workers do: each service's outbox is read
and every message is handed to the task its consumer registered on the owning service's worker
(inbox, validation and all), on the embedded default or on PostgreSQL + Redis. Messages move only
when a test pumps them, so a test chooses their order and can deliver any of them again."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa
from celery import Celery
from flask.testing import FlaskClient

from services import REGISTRY
from services.book import app as book_app
from services.book import worker as book_worker
from services.council import app as council_app
from services.council import runs as council_runs
from services.council import worker as council_worker
from services.intake import app as intake_app
from services.intake import worker as intake_worker
from shared import clock
from shared.auth import Principal, new_token, store_token
from shared.config import Settings
from shared.runtime import Runtime
from shared.signing import message_keys, sign
from shared.tables import inbox, outbox, parked_messages

SERVICES = {
    "intake": (intake_app, intake_worker),
    "council": (council_app, council_worker),
    "book": (book_app, book_worker),
}


def previous_month() -> tuple[str, dt.date]:
    """The month before this one (local) and its 15th day."""
    first = clock.today().replace(day=1)
    day = (first - dt.timedelta(days=1)).replace(day=15)
    return f"{day.year:04d}-{day.month:02d}", day


def this_month() -> str:
    return clock.today().strftime("%Y-%m")


class Flow:
    """intake, council and book over ``settings``, with the organisation loaded in each."""

    def __init__(self, settings: Settings, org_document: dict[str, Any], late_days: int = 45) -> None:
        # R3: deeds of last month stay recordable whatever today's date (R5a is about them).
        settings = dataclasses.replace(settings, late_days=late_days)
        self.runtimes: dict[str, Runtime] = {}
        self.clients: dict[str, FlaskClient] = {}
        self.workers: dict[str, Celery] = {}
        for name, (app_module, worker_module) in SERVICES.items():
            rt = app_module.build_runtime(settings)
            rt.migrate()
            REGISTRY[name].load_org(rt, org_document)
            app = app_module.create_app(runtime=rt)
            app.config["TESTING"] = True
            self.clients[name] = app.test_client()
            self.workers[name] = worker_module.create_worker(runtime=rt)
            # Messages move when the test pumps them: no relay to wake after a commit.
            rt.db.after_commit.clear()
            self.runtimes[name] = rt
        self.keys = message_keys(settings)
        self._handed: set[str] = set()
        self.delivered: list[dict[str, Any]] = []

    def close(self) -> None:
        for rt in self.runtimes.values():
            rt.db.dispose()

    # -- people -----------------------------------------------------------------------------------
    def token(self, role: str, subject: str) -> dict[str, str]:
        """Headers with one bearer token, valid in every service (as ``sovang token issue``)."""
        token = new_token()
        for rt in self.runtimes.values():
            with rt.db.unit_of_work() as uow:
                store_token(uow, token, role, subject, 1)
                uow.commit()
        return {"Authorization": f"Bearer {token}"}

    def open_by_calendar(self, council: str, secretary: str, kind: str, period: str) -> dict[str, Any]:
        """A round opened as R21's calendar opens it: a month it finds with nothing introduced
        closes, empty, once intake answers (a secretary's would be refused, API.md)."""
        who = Principal("unit_secretary", secretary)
        return council_runs.open_round(self.runtimes["council"], who,
                                       {"council": council, "kind": kind, "period": period}, opened_by="calendar")

    # -- messages ---------------------------------------------------------------------------------
    def pending(self, type_: str | None = None) -> list[dict[str, Any]]:
        """Envelopes written to any outbox and not handed on yet, each service's in order."""
        found = []
        for rt in self.runtimes.values():
            with rt.db.reading() as s:
                found.extend(s.execute(sa.select(outbox.c.envelope).order_by(outbox.c.id)).scalars())
        return [e for e in found if e["id"] not in self._handed and (type_ is None or e["type"] == type_)]

    def deliver(self, env: dict[str, Any]) -> None:
        """Run the consumer's task of the service that owns the message, as its worker would,
        signed as the relay signs what it publishes."""
        env = sign(env, self.keys)
        queue = env["type"].split(".", 1)[0]
        self.workers[queue].tasks[env["type"]](env)
        self.assert_nothing_parked()
        self._handed.add(env["id"])
        self.delivered.append(env)

    def pump(self, skip: tuple[str, ...] = (), rounds: int = 30) -> int:
        """Deliver every message written so far, and those they cause, until none is left;
        messages of the ``skip`` types are held back (still pending). Returns how many moved."""
        moved = 0
        for _ in range(rounds):
            batch = [e for e in self.pending() if e["type"] not in skip]
            if not batch:
                return moved
            for env in batch:
                self.deliver(env)
                moved += 1
        raise AssertionError("messages still flowing after many rounds")

    def assert_nothing_parked(self) -> None:
        """A consumer that failed would park its message (and the test would go on regardless)."""
        for name, rt in self.runtimes.items():
            with rt.db.reading() as s:
                parked = s.execute(sa.select(parked_messages.c.type, parked_messages.c.error)).all()
            assert not parked, f"{name} parked {parked}"

    def redeliver_everything(self) -> int:
        """Every message delivered so far, delivered once more; returns how many inbox rows that
        added (0: each consumer took each message once)."""
        before = self.inbox_rows()
        for env in list(self.delivered):
            queue = env["type"].split(".", 1)[0]
            self.workers[queue].tasks[env["type"]](env)
        return self.inbox_rows() - before

    def inbox_rows(self) -> int:
        total = 0
        for rt in self.runtimes.values():
            with rt.db.reading() as s:
                total += s.execute(sa.select(sa.func.count()).select_from(inbox)).scalar_one()
        return total

    # -- HTTP -------------------------------------------------------------------------------------
    def get(self, service: str, path: str, headers: dict[str, str]) -> Any:
        r = self.clients[service].get(path, headers=headers)
        assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True))
        return r.get_json()

    def post(self, service: str, path: str, headers: dict[str, str], body: Any, status: int | None = None) -> Any:
        r = self.clients[service].post(path, json=body, headers=headers)
        if status is not None:
            assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True))
        return r
