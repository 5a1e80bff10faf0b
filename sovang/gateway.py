"""One origin for the three services: a WSGI dispatcher by path prefix (API.md, "Common").

In the embedded default it serves every service from one process; in the distributed
deployment a gateway (nginx in ``deploy/``) routes the same prefixes to each service's own
gunicorn, and this dispatcher is not used.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.test import EnvironBuilder, run_wsgi_app

from shared.config import SERVICES, Settings

WSGIApp = Callable[[dict[str, Any], Callable], Iterable[bytes]]


def _json(start_response: Callable, status: str, body: dict[str, Any], content_type: str) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class Gateway:
    """Routes a request to the service that owns the longest matching path prefix."""

    def __init__(self, apps: dict[str, WSGIApp], prefixes: dict[str, tuple[str, ...]]) -> None:
        self.apps = apps
        self.routes = sorted(
            ((prefix, name) for name, owned in prefixes.items() for prefix in owned),
            key=lambda item: len(item[0]),
            reverse=True,
        )
        self.openapi: Callable[[], dict[str, Any]] | None = None

    def owner(self, path: str) -> str | None:
        for prefix, name in self.routes:
            if path == prefix or path.startswith(prefix.rstrip("/") + "/") or path.startswith(prefix + "."):
                return name
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path in ("/healthz", "/readyz"):
            return self._health(path, start_response)
        if path == "/api/v1/openapi.json" and self.openapi is not None:
            return _json(start_response, "200 OK", self.openapi(), "application/json")
        name = self.owner(path)
        if name is None:
            return _json(
                start_response,
                "404 NOT FOUND",
                {"type": "about:blank", "title": "Không tìm thấy", "status": 404,
                 "detail": f"Không có đường dẫn {path}."},
                "application/problem+json",
            )
        return self.apps[name](environ, start_response)

    def _health(self, path: str, start_response: Callable) -> Iterable[bytes]:
        """Ready only when every service is: each checks its own database and the broker."""
        checks: dict[str, Any] = {}
        ok = True
        for name, app in self.apps.items():
            body, status, _ = run_wsgi_app(app, EnvironBuilder(path=path).get_environ())
            raw = b"".join(body)
            ok = ok and status.startswith("200")
            try:
                checks[name] = json.loads(raw)
            except ValueError:
                checks[name] = raw.decode("utf-8", "replace")
        if ok:
            return _json(start_response, "200 OK", {"status": "ok", "services": checks}, "application/json")
        return _json(
            start_response,
            "503 SERVICE UNAVAILABLE",
            {"type": "about:blank", "title": "Dịch vụ chưa sẵn sàng", "status": 503,
             "detail": "Một số dịch vụ chưa sẵn sàng.", "services": checks},
            "application/problem+json",
        )


def service_module(name: str, part: str) -> Any:
    return importlib.import_module(f"services.{name}.{part}")


def create_gateway(settings: Settings | None = None) -> Gateway:
    """Every service's Flask app behind one dispatcher."""
    settings = settings or Settings.from_env()
    apps: dict[str, WSGIApp] = {}
    prefixes: dict[str, tuple[str, ...]] = {}
    for name in SERVICES:
        apps[name] = service_module(name, "app").create_app(settings)
        prefixes[name] = importlib.import_module(f"services.{name}").PREFIXES
    gateway = Gateway(apps, prefixes)
    gateway.openapi = _merged_openapi
    return gateway


def _merged_openapi() -> dict[str, Any]:
    """The OpenAPI documents of the three services, merged into one."""
    merged: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Sổ vàng lập công", "version": "1"},
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    for name in SERVICES:
        try:
            spec = service_module(name, "openapi").spec()
        except ModuleNotFoundError:
            continue
        merged["paths"].update(spec.get("paths", {}))
        for key, value in (spec.get("components") or {}).items():
            merged["components"].setdefault(key, {}).update(value)
    return merged
