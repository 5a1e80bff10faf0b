"""One origin for the three services: a WSGI dispatcher by path prefix (API.md, "Common").

In the embedded default it serves every service from one process; in the distributed
deployment a gateway (nginx in ``deploy/``) routes the same prefixes to each service's own
gunicorn, and this dispatcher is not used.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.test import EnvironBuilder, run_wsgi_app

from services import REGISTRY
from shared.config import Settings
from shared.problems import RETRY_AFTER_SECONDS
from shared.sessions import COOKIE, HEADER

WSGIApp = Callable[[dict[str, Any], Callable], Iterable[bytes]]

# R24: people's sessions are intake's; the edge asks it (ARCHITECTURE: sessions across services).
SESSION_OWNER = "intake"
SESSION_CHECK = "/api/v1/session/check"
SESSION_COOKIE = COOKIE
SESSION_HEADER = HEADER
PERSON_ENVIRON = "HTTP_" + HEADER.upper().replace("-", "_")


def _json(start_response: Callable, status: str, body: dict[str, Any], content_type: str,
          extra: tuple[tuple[str, str], ...] = ()) -> list[bytes]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data))), *extra])
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
        # The owner of people's sessions (R24), asked about the session cookie of every request
        # bound for another service (shared.sessions).
        self.session_owner = SESSION_OWNER if SESSION_OWNER in apps else None

    def close(self) -> None:
        """Give back the database connections of the services' runtimes it was built with."""
        for app in self.apps.values():
            runtime = getattr(app, "extensions", {}).get("sovang")
            if runtime is not None:
                runtime.db.dispose()

    def owner(self, path: str) -> str | None:
        for prefix, name in self.routes:
            if prefix == "/":  # the sign-in page: that path alone, not a catch-all
                if path == "/":
                    return name
                continue
            if path == prefix or path.startswith(prefix.rstrip("/") + "/") or path.startswith(prefix + "."):
                return name
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        if path in ("/healthz", "/readyz"):
            if environ.get("REQUEST_METHOD", "GET") not in ("GET", "HEAD"):
                return _json(start_response, "405 METHOD NOT ALLOWED",
                             {"type": "about:blank", "title": "Phương thức không được phép", "status": 405,
                              "detail": f"{path} chỉ nhận GET."},
                             "application/problem+json", (("Allow", "GET, HEAD"),))
            return self._health(path, start_response)
        if path == "/api/v1/openapi.json" and self.openapi is not None:
            return _json(start_response, "200 OK", self.openapi(), "application/json")
        if path == "/api/v1/docs" or path.startswith("/api/v1/docs/"):
            return docs(path, start_response)
        name = self.owner(path)
        # Only the edge may say who is signed in: a client's own X-Sovang-Person goes.
        environ.pop(PERSON_ENVIRON, None)
        if name is not None and name != self.session_owner and self.session_owner is not None:
            self._vouch(environ)
        if name is None:
            return _json(
                start_response,
                "404 NOT FOUND",
                {"type": "about:blank", "title": "Không tìm thấy", "status": 404,
                 "detail": f"Không có đường dẫn {path}."},
                "application/problem+json",
            )
        return self.apps[name](environ, start_response)

    def _vouch(self, environ: dict[str, Any]) -> None:
        """Ask the owner about the request's session cookie, as nginx's ``auth_request`` does in
        the distributed deployment, and pass its signed answer on (shared.sessions)."""
        cookie = environ.get("HTTP_COOKIE", "")
        if SESSION_COOKIE + "=" not in cookie:
            return
        check = EnvironBuilder(path=SESSION_CHECK, headers={"Cookie": cookie}).get_environ()
        for key in ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "REMOTE_ADDR", "wsgi.url_scheme"):
            if key in environ:
                check[key] = environ[key]
        body, status, headers = run_wsgi_app(self.apps[self.session_owner], check)
        try:
            for _ in body:
                pass
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        value = headers.get(SESSION_HEADER) if status.startswith("2") else None
        if value:
            environ[PERSON_ENVIRON] = value

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
            "application/problem+json", (("Retry-After", str(RETRY_AFTER_SECONDS)),),
        )


DOCS_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sổ vàng lập công — tài liệu API</title>
<link rel="stylesheet" href="/api/v1/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/api/v1/docs/swagger-ui-bundle.js"></script>
<script src="/api/v1/docs/init.js"></script></body></html>"""
DOCS_INIT = 'window.ui = SwaggerUIBundle({url: "/api/v1/openapi.json", dom_id: "#swagger-ui"});'
DOCS_ASSETS = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "application/javascript"}


def docs(path: str, start_response: Callable) -> Iterable[bytes]:
    """A browsable page over the OpenAPI document, with Swagger UI shipped in a wheel (no CDN)."""
    name = path.removeprefix("/api/v1/docs").strip("/")
    if name in ("", "index.html"):
        body, ctype = DOCS_PAGE.encode("utf-8"), "text/html; charset=utf-8"
    elif name == "init.js":
        body, ctype = DOCS_INIT.encode("utf-8"), "application/javascript"
    elif name in DOCS_ASSETS:
        import swagger_ui_bundle

        body = (Path(swagger_ui_bundle.swagger_ui_path) / name).read_bytes()
        ctype = DOCS_ASSETS[name]
    else:
        return _json(start_response, "404 NOT FOUND", {"type": "about:blank", "title": "Không tìm thấy",
                     "status": 404, "detail": f"Không có {path}."}, "application/problem+json")
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body))),
                              ("Cache-Control", "public, max-age=3600")])
    return [body]


def create_gateway(settings: Settings | None = None) -> Gateway:
    """Every service's Flask app behind one dispatcher."""
    settings = settings or Settings.from_env()
    apps: dict[str, WSGIApp] = {}
    prefixes: dict[str, tuple[str, ...]] = {}
    for name, service in REGISTRY.items():
        apps[name] = service.create_app(settings)
        prefixes[name] = service.prefixes
    gateway = Gateway(apps, prefixes)
    gateway.openapi = _merged_openapi
    return gateway


@functools.cache
def _merged_openapi() -> dict[str, Any]:
    """The OpenAPI documents of the three services, merged into one."""
    merged: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "Sổ vàng lập công", "version": "1"},
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    for service in REGISTRY.values():
        spec = service.spec()
        if spec is None:
            continue
        merged["paths"].update(spec.get("paths", {}))
        for key, value in (spec.get("components") or {}).items():
            merged["components"].setdefault(key, {}).update(value)
    return merged
