"""Observable (README, "Deployment"): /metrics that promtool accepts, on every service and on the
workers; alert rules promtool accepts; JSON log lines carrying the request and message ids;
``sovang parked list|replay|drop``; ``celery -A`` attaching to a service's app."""

from __future__ import annotations

import importlib
import json
import logging
import shutil
import subprocess
from pathlib import Path

import pytest

from services import REGISTRY
from shared import clock, logs
from shared.celery_app import redis_client
from shared.consumer import park
from shared.db import utcnow
from shared.messages import envelope
from shared.signing import message_keys, sign
from sovang import cli
from tests.book.book_helpers import UNIT, inscribe_command

ROOT = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool")


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    if PROMTOOL is None:
        if cli.os.environ.get("CI"):
            pytest.fail("promtool is missing: .ci/run installs Debian's prometheus package", pytrace=False)
        pytest.skip("promtool is missing (apt-get install prometheus): NOT CHECKED")
    return subprocess.run([PROMTOOL, *args], input=stdin, capture_output=True)


def test_the_alert_rules_are_valid():
    result = promtool("check", "rules", str(ROOT / "deploy" / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.distributed
@pytest.mark.parametrize("service", ["intake", "council", "book"])
def test_each_service_serves_metrics_that_promtool_accepts(service, pg_settings, org_document, request):
    runtime = REGISTRY[service].build_runtime(pg_settings)
    request.addfinalizer(runtime.db.dispose)  # also when promtool is missing and the test skips
    runtime.migrate()
    client = REGISTRY[service].create_app(runtime=runtime).test_client()
    r = client.get("/healthz", headers={"X-Request-Id": "req-from-the-edge"})
    assert r.headers["X-Request-Id"] == "req-from-the-edge"
    assert client.get("/readyz").headers["X-Request-Id"]  # made when the edge gave none
    body = client.get("/metrics")
    assert body.status_code == 200 and body.content_type.startswith("text/plain")
    text = body.data.decode()
    assert f'sovang_http_request_duration_seconds_bucket{{le="0.005",method="GET",route="/healthz",service="{service}",status="200"}}' in text
    for name in ("sovang_outbox_backlog", "sovang_outbox_oldest_unsent_age_seconds", "sovang_parked_messages"):
        assert f'{name}{{service="{service}"}} 0.0' in text
    assert 'sovang_queue_length{queue="book"} 0.0' in text
    if service == "council":
        assert "sovang_rounds_past_deadline 0.0" in text
    if service == "book":
        assert "# TYPE sovang_book_entries gauge" in text
    result = promtool("check", "metrics", stdin=body.data)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_log_line_is_one_json_object_with_the_ids(capsys):
    logs.configure("INFO", True, "book")
    try:
        with logs.context("req-1", "msg-1"):
            logging.getLogger("sovang.test").info("ghi vào sổ %s", "CAH-DM")
    finally:
        logs.configure("INFO", False)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert (event["msg"], event["service"], event["request_id"], event["message_id"], event["level"]) == (
        "ghi vào sổ CAH-DM", "book", "req-1", "msg-1", "INFO")


@pytest.mark.distributed
def test_parked_messages_are_listed_replayed_and_dropped(pg_settings, org_document, capsys, monkeypatch, request):
    from tests.book.book_helpers import make_runtime

    runtime = make_runtime(pg_settings, org_document)
    request.addfinalizer(runtime.db.dispose)
    keys = message_keys(pg_settings)
    kept = sign(envelope(inscribe_command(UNIT), clock.isoformat(utcnow())), keys)
    gone = sign(envelope(inscribe_command(UNIT), clock.isoformat(utcnow())), keys)
    forged = envelope(inscribe_command(UNIT), clock.isoformat(utcnow()))
    park(runtime, kept, "RuntimeError('sổ đang khoá')", 10)
    park(runtime, gone, "RuntimeError('x')", 10)
    park(runtime, forged, "thư không có chữ ký (unsigned message)", 1, forged=True)
    monkeypatch.setenv("SOVANG_HOME", str(pg_settings.home))
    monkeypatch.setenv("SOVANG_DATABASE_URL", pg_settings.database_url)
    monkeypatch.setenv("SOVANG_BROKER_URL", pg_settings.broker_url)
    client = redis_client(pg_settings)
    request.addfinalizer(client.close)
    client.set(f"sovang:deliveries:book:{kept['id']}", 10)

    assert cli.main(["parked", "list"]) == 0
    out = capsys.readouterr().out
    assert kept["id"] in out and gone["id"] in out and "3 thư đang bị giữ lại." in out
    assert cli.main(["parked", "list", "--service", "intake"]) == 0
    assert "0 thư" in capsys.readouterr().out

    assert cli.main(["parked", "replay", kept["id"]]) == 0
    assert "Đã gửi lại" in capsys.readouterr().out
    queued = [json.loads(raw) for raw in client.lrange("book", 0, -1)]
    assert [q["headers"]["id"] for q in queued] == [kept["id"]]
    assert client.get(f"sovang:deliveries:book:{kept['id']}") is None

    forged_row = [json.loads(line) for line in _listed_json(capsys) if json.loads(line)["envelope"]["id"] == forged["id"]]
    assert cli.main(["parked", "replay", forged_row[0]["message_id"]]) == 2
    assert "không gửi lại" in capsys.readouterr().err
    assert cli.main(["parked", "drop", gone["id"]]) == 0
    assert cli.main(["parked", "drop", gone["id"]]) == 2
    capsys.readouterr()
    left = [json.loads(line)["envelope"]["id"] for line in _listed_json(capsys)]
    assert left == [forged["id"]]


def _listed_json(capsys) -> list[str]:  # noqa: ANN001
    capsys.readouterr()
    assert cli.main(["parked", "list", "--json"]) == 0
    return capsys.readouterr().out.strip().splitlines()


@pytest.mark.distributed
def test_celery_inspect_attaches_to_a_service_app(pg_settings, monkeypatch):
    monkeypatch.setenv("SOVANG_HOME", str(pg_settings.home))
    monkeypatch.setenv("SOVANG_DATABASE_URL", pg_settings.database_url)
    monkeypatch.setenv("SOVANG_BROKER_URL", pg_settings.broker_url)
    result = subprocess.run([str(ROOT / ".venv" / "bin" / "celery"), "-A", "sovang.workers.book", "inspect",
                             "registered", "--timeout", "1"], cwd=ROOT, capture_output=True, text=True,
                            env={**cli.os.environ})
    # No worker runs here: celery found the app, reached the broker and heard no node answer.
    assert "No nodes replied" in result.stdout + result.stderr, result.stdout + result.stderr
    app = importlib.import_module("sovang.workers.book").app
    assert {"book.inscribe", "book.republish_pages"} <= set(app.tasks)


@pytest.mark.distributed
def test_a_request_id_travels_with_the_messages_its_request_caused(pg_settings, org_document):
    """The id nginx gives a request (X-Request-Id) is written into the messages its transaction
    emits, so the consumer's log lines carry it (shared.logs, shared.consumer.consumer)."""
    import sqlalchemy as sa

    from services.intake.app import build_runtime, create_app
    from shared.auth import new_token, store_token
    from shared.tables import outbox

    runtime = build_runtime(pg_settings)
    runtime.migrate()
    REGISTRY["intake"].load_org(runtime, org_document)
    token = new_token()
    with runtime.db.unit_of_work() as uow:
        store_token(uow, token, "officer", "CAH-DM-0023", 1)
        uow.commit()
    client = create_app(runtime=runtime).test_client()
    r = client.post("/api/v1/deeds", headers={"Authorization": f"Bearer {token}", "X-Request-Id": "req-7f3a"},
                    json={"author": {"officer": "CAH-DM-0023"}, "occurred_on": "2026-12-01", "kind": "good_deed",
                          "relation": "direct", "title": "Giúp cụ bà qua đường",
                          "description": "Đồng chí dắt cụ bà qua ngã tư đông xe."})
    assert r.status_code == 201 and r.headers["X-Request-Id"] == "req-7f3a"
    with runtime.db.reading() as s:
        envelopes = list(s.execute(sa.select(outbox.c.envelope)).scalars())
    assert envelopes and all(env["request_id"] == "req-7f3a" for env in envelopes)
    runtime.db.dispose()
