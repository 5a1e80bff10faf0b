"""The book service's Flask app (API.md, book): public reads, and revocations."""

from __future__ import annotations

from flask import Flask

from services.book import MIGRATIONS, SERVICE
from services.book.api import books, publications
from shared.config import Settings
from shared.runtime import Runtime, make_flask


def build_runtime(settings: Settings | None = None) -> Runtime:
    return Runtime.build(SERVICE, MIGRATIONS, settings)


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """The app over an existing runtime (or one built from ``settings``); never migrates."""
    runtime = runtime or build_runtime(settings)
    app = make_flask(runtime, __name__)
    app.register_blueprint(books.bp)
    app.register_blueprint(publications.bp)
    return app
