"""gunicorn's access log (``SOVANG_WEB_ACCESS_LOG``): on by default, off in the production
topology, where nginx at the edge logs each request (deploy/nginx.conf)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger

from shared.config import Settings
from sovang import web

ROOT = Path(__file__).resolve().parents[2]


def _env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text("utf-8").splitlines()
             if line and not line.startswith("#") and "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def _logged(access_log: bool) -> str:
    """What gunicorn's own logger writes for one request under ``gunicorn_settings``."""
    cfg = Config()
    for key, value in web.gunicorn_settings("127.0.0.1:0", 1, 4, access_log).items():
        cfg.set(key, value)
    logger = Logger(cfg)
    out = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.stream = out

    class Resp:
        status, sent, headers = "201 CREATED", 10, []

    logger.access(Resp(), type("Req", (), {"headers": []})(),
                  {"REQUEST_METHOD": "POST", "RAW_URI": "/api/v1/deeds", "SERVER_PROTOCOL": "HTTP/1.1"},
                  dt.timedelta(milliseconds=3))
    return out.getvalue()


def test_the_access_log_is_on_by_default_and_off_when_asked() -> None:
    assert Settings.from_env({}).web_access_log is True
    assert Settings.from_env({"SOVANG_WEB_ACCESS_LOG": "0"}).web_access_log is False
    assert "/api/v1/deeds" in _logged(True)
    assert _logged(False) == ""


def test_the_production_topology_leaves_the_log_to_nginx(monkeypatch: pytest.MonkeyPatch) -> None:
    env = _env_file(ROOT / "deploy" / "sovang.env.example")
    # Only the setting at hand: the others name secrets mounted in the containers alone.
    settings = Settings.from_env({k: v for k, v in env.items() if k == "SOVANG_WEB_ACCESS_LOG"})
    assert settings.web_access_log is False
    assert "access_log /dev/stdout" in (ROOT / "deploy" / "nginx.conf").read_text("utf-8")
    seen: list[bool] = []
    monkeypatch.setattr(web, "serve_app", lambda _load, _bind, _w, _t, access_log=True: seen.append(access_log))
    web.serve_gunicorn("intake", settings, "127.0.0.1:0", 1)
    assert seen == [False]
