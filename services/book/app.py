"""The book service's Flask app (API.md, book): public reads, and revocations."""

from __future__ import annotations

from flask import Flask

from services.book import MIGRATIONS, SERVICE, artifact_cache, pages, stored_responses
from services.book.api import books, publications
from services.book.api.common import CACHE
from shared import web
from shared.config import Settings
from shared.runtime import Runtime, make_flask


def build_runtime(settings: Settings | None = None) -> Runtime:
    """The book's runtime; its commits that change publications invalidate the web processes'
    caches of them (``artifact_cache``), whichever process commits (web, worker, CLI)."""
    runtime = Runtime.build(SERVICE, MIGRATIONS, settings)
    artifact_cache.install(runtime.db)
    return runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """The app over an existing runtime (or one built from ``settings``); never migrates."""
    runtime = runtime or build_runtime(settings)
    app = make_flask(runtime, __name__)
    # Serves only while subscribed to the invalidations (none without a broker: then unused).
    cache = app.extensions[CACHE] = artifact_cache.install(runtime.db)
    stored_responses.install(app, cache)
    app.register_blueprint(books.bp)
    app.register_blueprint(publications.bp)
    app.register_blueprint(pages.bp)
    web.install(app)
    return app
