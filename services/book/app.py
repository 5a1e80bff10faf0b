"""The book service's Flask app (API.md, book): public reads, and revocations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask

from services.book import MIGRATIONS, SERVICE, pages
from services.book.api import books, publications
from services.book.publication import cache, responses
from services.book.publication.serving import CACHE, context
from services.book.work import Work
from shared.config import Settings
from shared.endpoint import install_request_work
from shared.runtime import Runtime, make_flask
from shared.web.wiring import install_pages

T = TypeVar("T")
__all__ = ["build_runtime", "context", "create_app", "run"]


def build_runtime(settings: Settings | None = None) -> Runtime:
    """The book's runtime; its commits that change publications invalidate the web processes'
    caches of them (``publication.cache``), whichever process commits (web, worker, CLI)."""
    runtime = Runtime.build(SERVICE, MIGRATIONS, settings)
    runtime.db.work_type = Work  # every unit of work of the book's carries its books
    cache.install(runtime.db)
    return runtime


def run(runtime: Runtime, use_case: Callable[..., T], *args: Any) -> T:
    """Run ``use_case(uow, ctx, *args)`` in a unit of work of its own and commit it once: the
    entrypoint of a command (and of a test); a refusal rolls it back."""
    with runtime.db.unit_of_work() as uow:
        result = use_case(uow, context(runtime, uow), *args)
        uow.commit()
    return result


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """The app over an existing runtime (or one built from ``settings``); never migrates."""
    runtime = runtime or build_runtime(settings)
    app = make_flask(runtime, __name__)
    # Serves only while subscribed to the invalidations (none without a broker: then unused).
    kept = app.extensions[CACHE] = cache.install(runtime.db)
    responses.install(app, kept)
    app.register_blueprint(books.bp)
    app.register_blueprint(publications.bp)
    app.register_blueprint(pages.bp)
    install_pages(app)
    install_request_work(app)
    return app
