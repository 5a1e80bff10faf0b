"""What a service's app registers for its pages (``shared.web``): kept apart from the package so
that the pages it registers may import the package without a cycle."""

from __future__ import annotations

from typing import Any

from flask import Flask, request

from shared.sessions import person
from shared.web import bp, force_name, signed_in_values
from shared.web.audit_page import blueprint as audit_page
from shared.web.parked_page import blueprint as parked_page


def install_pages(app: Flask) -> None:
    """Templates, static files and the signed-in person for a service's pages, the page of the
    service's audit record (R23, ``/audit/{service}/``) and the admin's page of its parked
    messages (``/admin/parked/{service}/``)."""
    app.register_blueprint(bp)
    app.register_blueprint(audit_page(app.extensions["sovang"].service))
    app.register_blueprint(parked_page(app.extensions["sovang"].service))

    @app.context_processor
    def _person() -> dict[str, Any]:
        who = person() if request else None
        force = force_name()
        if who is None:
            return {"person": None, "role_pages": [], "force": force}
        return {**signed_in_values(who), "force": force}
