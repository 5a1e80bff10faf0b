"""``/healthz`` (the process answers) and ``/readyz`` (its database and broker answer too)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify

from shared.db import Database
from shared.problems import Problem


def install_health(app: Flask, db: Database, broker_ping: Callable[[], Any]) -> None:
    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok", "service": db.service})

    @app.get("/readyz")
    def readyz() -> Response:
        checks: dict[str, str] = {}
        for name, probe in (("database", db.ping), ("broker", broker_ping)):
            try:
                probe()
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"unreachable: {type(exc).__name__}"
        if all(v == "ok" for v in checks.values()):
            return jsonify({"status": "ready", "service": db.service, "checks": checks})
        missing = ", ".join(name for name, v in checks.items() if v != "ok")
        problem = Problem(503, f"Chưa sẵn sàng: không truy cập được {missing}.")
        resp = problem.response()
        body = json.loads(resp.get_data())
        resp.set_data(json.dumps({**body, "service": db.service, "checks": checks}, ensure_ascii=False))
        return resp
