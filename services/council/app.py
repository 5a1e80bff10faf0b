"""The council's Flask app and runtime (API.md, council)."""

from __future__ import annotations

from flask import Flask

from services.council import MIGRATIONS, SERVICE, pages, secretary_pages
from services.council.api.dossiers import bp as dossiers_bp
from services.council.api.reports import bp as reports_bp
from services.council.api.rounds import bp as rounds_bp
from services.council.work import Work
from shared.config import Settings
from shared.endpoint import install_request_work
from shared.runtime import Runtime, make_flask
from shared.web.wiring import install_pages


def build_runtime(settings: Settings | None = None) -> Runtime:
    runtime = Runtime.build(SERVICE, MIGRATIONS, settings)
    runtime.db.work_type = Work  # every unit of work of the council's carries its repositories
    return runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """The council's API; it never migrates (``runtime.migrate()`` does)."""
    runtime = runtime or build_runtime(settings)
    app = make_flask(runtime, __name__)
    app.register_blueprint(rounds_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(dossiers_bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(secretary_pages.bp)
    install_pages(app)
    install_request_work(app)
    return app
