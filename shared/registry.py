"""What a service offers the ``sovang`` command, the gateway and the edge, declared once.

The contract: each package ``services/<name>/__init__.py`` holds ``DECLARATION``, a ``Service``,
and ``services.REGISTRY`` lists them in the order of ``shared.config.SERVICES``. A package stays
cheap to import (no Flask, no Celery, no database), since the edge and the proxy read only its
prefixes; so its parts are named as ``"module:function"`` and imported when first asked for:

- ``runtime``: ``build_runtime(settings=None) -> Runtime``, the service's settings, database and
  organisation copy, never migrated;
- ``app``: ``create_app(settings=None, runtime=None) -> Flask``, its web app (API.md), never
  migrating;
- ``worker``: ``create_worker(settings=None, runtime=None) -> Celery``, its consumers, its relay,
  and (``beat``) the scheduled jobs that exactly one process of a deployment runs (R20, R21);
- ``org_check``: the use case ``check_org(uow, ctx, doc) -> list[str]``, what in the service would
  stop the organisation ``doc`` from loading (R25), writing nothing;
- ``org_load``: the use case ``load_org(uow, ctx, doc, actor=…, details=…) -> bool``, ``doc``
  loaded into the service's copy, True if anything changed; it refuses with ``OrgRefused``.

``Service.check_org`` and ``Service.load_org`` are their entrypoint for the command line and the
tests: each opens the runtime's unit of work and, for a load, commits it once.
- ``openapi``: ``spec() -> dict``, the service's OpenAPI document, merged with the others' at
  ``/api/v1/openapi.json`` (None: it publishes none).

``migrations`` is its Alembic folder; ``prefixes`` the HTTP paths it owns on the shared origin
(``"/"`` the exact path only); ``public`` those of them nobody signs in for (R16), and
``public_pages`` those of ``public`` that are pages for people, which show who is signed in.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery
    from flask import Flask

    from shared.config import Settings
    from shared.runtime import Runtime


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Service:
    """One service's declaration (the module docstring says what each part must be)."""

    name: str
    migrations: Path
    prefixes: tuple[str, ...]
    runtime: str
    app: str
    worker: str
    org_check: str
    org_load: str
    openapi: str | None = None
    public: tuple[str, ...] = ()
    public_pages: tuple[str, ...] = ()
    beat: bool = False

    def build_runtime(self, settings: Settings | None = None) -> Runtime:
        return _resolve(self.runtime)(settings)

    def create_app(self, settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
        return _resolve(self.app)(settings, runtime)

    def create_worker(self, settings: Settings | None = None, runtime: Runtime | None = None) -> Celery:
        return _resolve(self.worker)(settings, runtime)

    def check_org(self, runtime: Runtime, doc: dict[str, Any]) -> list[str]:
        """R25: what in the service would stop ``doc`` from loading; nothing is written."""
        with runtime.db.unit_of_work() as uow:
            return _resolve(self.org_check)(uow, runtime.context(uow), doc)

    def load_org(self, runtime: Runtime, doc: dict[str, Any]) -> bool:
        """R25: load ``doc`` into the service's copy in one transaction, committed when anything
        changed (the command line's actor on its R23 lines); ``OrgRefused`` writes nothing."""
        with runtime.db.unit_of_work() as uow:
            changed = _resolve(self.org_load)(uow, runtime.context(uow), doc)
            if changed:
                uow.commit()
        return bool(changed)

    def spec(self) -> dict[str, Any] | None:
        """The service's OpenAPI document, or None when it publishes none."""
        return _resolve(self.openapi)() if self.openapi else None
