"""The bare baselines, served exactly like a service's web process (``sovang.web``: gunicorn,
same bind, same workers and threads, access log on stdout):

- ``POST /bare/deeds`` parses the same JSON as ``POST /api/v1/deeds`` and inserts one row with
  psycopg into ``bench.bare_deeds``, a table made ``LIKE intake.deeds INCLUDING ALL`` (same
  columns, same indexes): the ceiling for one deed per request;
- ``GET /hello``: a bare hello-world, the ceiling for a feed read.

Run: ``python -m bench.bare --bind 127.0.0.1:18110 --workers 2 --dsn postgresql://…``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import threading

import psycopg
from flask import Flask, Response, request

from shared.ids import new_id

INSERT = """
INSERT INTO bench.bare_deeds (id, author_kind, author_code, author_name, unit, subunit, occurred_on, month,
    kind, relation, title, description, place, beneficiaries, search_text, status, book_entries, created_at,
    created_by)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""


def create_bare_app(dsn: str) -> Flask:
    app = Flask(__name__)
    state = threading.local()  # a connection per thread, so that threads never wait on each other

    def conn() -> psycopg.Connection:
        c = getattr(state, "conn", None)
        if c is None or c.closed:
            c = state.conn = psycopg.connect(dsn, autocommit=True)
        return c

    @app.post("/bare/deeds")
    def deeds() -> tuple[Response, int]:
        data = json.loads(request.get_data())
        ((kind, code),) = data["author"].items()
        deed_id = new_id()
        now = dt.datetime.now(dt.UTC)
        occurred = data["occurred_on"]
        conn().execute(INSERT, (
            deed_id, kind, code, code, "BARE", None, occurred, occurred[:7], data["kind"], data["relation"],
            data["title"], data["description"], data.get("place"), data.get("beneficiaries"),
            (data["title"] + " " + data["description"]).lower(), "recorded", "[]", now, "bare",
        ))
        body = {**data, "id": deed_id, "status": "recorded", "created_at": now.isoformat()}
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json"), 201

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
