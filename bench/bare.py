"""The bare baselines, served exactly like a service's web process (``sovang.web``: gunicorn,
same bind, same workers and threads, access log on stdout):

- ``POST /bare/deeds`` parses the same JSON as ``POST /api/v1/deeds`` and inserts one row with
  psycopg into ``bench.bare_deeds``, a table made ``LIKE intake.deeds INCLUDING ALL`` (same
  columns, same indexes): the ceiling for one deed per request;
- ``GET /hello``: a bare hello-world, the ceiling for a feed read;
- ``POST /bare/deeds-round-trips``: the bare insert making every round trip ``POST /api/v1/deeds``
  makes, in the same order, with psycopg and redis-py and nothing else (no validation, no
  SQLAlchemy, no marshmallow): the token's row (read at most once every half second, as the
  services keep it), the rate limit's count (one script), the deed with its outbox message and
  its audit line (R23) in one statement, the Idempotency-Key claimed with the stored answer, the
  commit, the relay's wake-up (one script);
- ``POST /bare/deeds-fewest``: the same guarantees in the fewest round trips we know of: the
  token's row (kept as above), the count, then one statement that claims the key with its answer,
  inserts the deed, its message and its audit line (a PostgreSQL CTE, committed alone), and the
  wake-up.

The last two write to copies of intake's tables in schema ``bench`` (``floor_deeds``,
``floor_outbox``, ``floor_audit``, ``floor_keys``), so that no relay sends what they write; they
read intake's tokens. They show how much of the gap to the bare insert is the round trips
themselves.

Run: ``python -m bench.bare --bind 127.0.0.1:18110 --workers 2 --dsn postgresql://…``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import threading
import time
import uuid

import psycopg
import redis
from flask import Flask, Response, request
from psycopg.types.json import Json

from shared.ids import new_id

DEED_COLUMNS = """id, author_kind, author_code, author_name, unit, subunit, occurred_on, month, kind, relation,
    title, description, place, beneficiaries, search_text, status, book_entries, created_at, created_by"""
_DEED_VALUES = ", ".join(["%s"] * 19)
INSERT = f"INSERT INTO bench.bare_deeds ({DEED_COLUMNS}) VALUES ({_DEED_VALUES})"


TOKEN = "SELECT role, subject, expires_at, revoked_at FROM intake.tokens WHERE token_hash = %s"
CLAIM_WITH_ANSWER = """
INSERT INTO bench.floor_keys (subject, key, request_hash, status, content_type, body, created_at)
VALUES (%s, %s, %s, 201, 'application/json', %s, %s) ON CONFLICT DO NOTHING RETURNING key
"""
RECORD = f"""
WITH deed AS (INSERT INTO bench.floor_deeds ({DEED_COLUMNS}) VALUES ({_DEED_VALUES})),
message AS (INSERT INTO bench.floor_outbox (message_id, type, queue, envelope, created_at) VALUES (%s, %s, %s, %s, %s))
INSERT INTO bench.floor_audit (at, role, subject, action, object, unit, details) VALUES (%s, %s, %s, %s, %s, %s, %s)
"""
# As the services' (shared.ratelimit, shared.celery_app): one command each.
COUNT = "local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end return n"
WAKE = "redis.call('RPUSH', KEYS[1], 1) redis.call('LTRIM', KEYS[1], -1, -1)"
FEWEST = f"""
WITH claim AS (
    INSERT INTO bench.floor_keys (subject, key, request_hash, status, content_type, body, created_at)
    VALUES (%s, %s, %s, 201, 'application/json', %s, %s) ON CONFLICT DO NOTHING RETURNING key
), deed AS (
    INSERT INTO bench.floor_deeds ({DEED_COLUMNS})
    SELECT {_DEED_VALUES} FROM claim RETURNING id
), line AS (
    INSERT INTO bench.floor_audit (at, role, subject, action, object, unit, details)
    SELECT %s, %s, %s, %s, %s, %s, %s FROM deed
)
INSERT INTO bench.floor_outbox (message_id, type, queue, envelope, created_at)
SELECT %s, %s, %s, %s, %s FROM deed RETURNING message_id
"""


def create_floor_tables(conn: psycopg.Connection) -> None:
    """The copies of intake's tables the floor endpoints write to."""
    for copy, table in (("floor_deeds", "deeds"), ("floor_outbox", "outbox"), ("floor_audit", "audit_log"),
                        ("floor_keys", "idempotency_records")):
        conn.execute(f"CREATE TABLE bench.{copy} (LIKE intake.{table} INCLUDING ALL)")


def create_bare_app(dsn: str, redis_url: str = "redis://127.0.0.1:6379/13") -> Flask:
    app = Flask(__name__)
    broker = redis.Redis.from_url(redis_url)
    count, push = broker.register_script(COUNT), broker.register_script(WAKE)
    state = threading.local()  # a connection per thread, so that threads never wait on each other

    def conn() -> psycopg.Connection:
        c = getattr(state, "conn", None)
        if c is None or c.closed:
            c = state.conn = psycopg.connect(dsn, autocommit=True)
        return c

    def parsed() -> tuple[tuple, str]:
        """The deed's row and the answer, from the request's JSON."""
        data = json.loads(request.get_data())
        ((kind, code),) = data["author"].items()
        deed_id = new_id()
        now = dt.datetime.now(dt.UTC)
        occurred = data["occurred_on"]
        row = (
            deed_id, kind, code, code, "BARE", None, occurred, occurred[:7], data["kind"], data["relation"],
            data["title"], data["description"], data.get("place"), data.get("beneficiaries"),
            (data["title"] + " " + data["description"]).lower(), "recorded", "[]", now, "bare",
        )
        body = {**data, "id": deed_id, "status": "recorded", "created_at": now.isoformat()}
        return row, json.dumps(body, ensure_ascii=False)

    @app.post("/bare/deeds")
    def deeds() -> tuple[Response, int]:
        row, answer = parsed()
        conn().execute(INSERT, row)
        return Response(answer, content_type="application/json"), 201

    tokens: dict[str, tuple[float, tuple | None]] = {}  # as shared.auth keeps them: half a second

    def count_and_key() -> tuple[str, str, str]:
        """The token's row (a round trip at most every half second) and the rate limit's count (a
        round trip); the key and the digest."""
        token = request.headers.get("Authorization", "")[len("Bearer "):].strip()
        digest = hashlib.sha256(token.encode()).hexdigest()
        kept = tokens.get(digest)
        now = time.monotonic()
        if kept is not None and now - kept[0] < 0.5:
            row = kept[1]
        else:
            row = conn().execute(TOKEN, (digest,)).fetchone()
            tokens[digest] = (now, row)
        subject = f"{row[0]}:{row[1]}" if row else "anonymous"
        name = f"sovang:rl:bare:{int(time.time() // 60)}"
        count(keys=[name], args=[120])
        key = request.headers.get("Idempotency-Key") or uuid.uuid4().hex
        return subject, key, hashlib.sha256(b"POST /bare\n" + request.get_data()).hexdigest()

    def message(deed: tuple, now: dt.datetime) -> tuple:
        env = {"id": new_id(), "type": "intake.deeds_recorded", "occurred_at": now.isoformat(),
               "payload": {"unit": deed[4], "month": deed[7], "deed_ids": [deed[0]]}}
        return env["id"], env["type"], "council", Json(env), now

    def line(deed: tuple, subject: str, now: dt.datetime) -> tuple:
        role, _, who = subject.partition(":")
        return now, role, who, "deed.recorded", deed[0], deed[4], Json({"month": deed[7], "batch": False})

    def wake() -> None:
        push(keys=["sovang:outbox-wake:bare"])

    @app.post("/bare/deeds-round-trips")
    def deeds_round_trips() -> tuple[Response, int]:
        subject, key, digest = count_and_key()
        row, answer = parsed()
        c = conn()
        with c.transaction():
            c.execute(RECORD, (*row, *message(row, row[17]), *line(row, subject, row[17])))
            c.execute(CLAIM_WITH_ANSWER, (subject, key, digest, answer.encode(), row[17])).fetchone()
        wake()
        return Response(answer, content_type="application/json"), 201

    @app.post("/bare/deeds-fewest")
    def deeds_fewest() -> tuple[Response, int]:
        subject, key, digest = count_and_key()
        row, answer = parsed()
        conn().execute(FEWEST, (subject, key, digest, answer.encode(), row[17], *row, *line(row, subject, row[17]),
                                *message(row, row[17]))).fetchone()
        wake()
        return Response(answer, content_type="application/json"), 201

    @app.get("/hello")
    def hello() -> Response:
        return Response("Hello, world!", content_type="text/plain")

    return app


def serve(bind: str, workers: int, threads: int, dsn: str) -> None:
    """The same gunicorn configuration as ``sovang.web.serve_gunicorn``."""
    from sovang.web import serve_app

    serve_app(lambda: create_bare_app(dsn), bind, workers, threads)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--dsn", required=True)
    args = parser.parse_args()
    serve(args.bind, args.workers, args.threads, args.dsn)
