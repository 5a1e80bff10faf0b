"""The book's OpenAPI document agrees with API.md and with the routes the app serves."""

from __future__ import annotations

from services.book.app import create_app
from services.book.openapi import spec

API_MD = {
    ("get", "/api/v1/books"), ("get", "/api/v1/books/{code}/entries"), ("get", "/api/v1/books/{code}/entries/{seq}"),
    ("get", "/api/v1/books/{code}/verify"), ("get", "/api/v1/books/{code}/entries/{seq}/certificate.pdf"),
    ("post", "/api/v1/books/{code}/revocations"), ("get", "/feeds/{code}.atom"), ("get", "/feeds/{code}.rss"),
    ("get", "/feeds/{code}.json"), ("get", "/honour-roll/{code}/"), ("get", "/honour-roll/{code}/{period}"),
    ("get", "/press/{quarter}.html"), ("get", "/press/{quarter}.pdf"), ("get", "/api/v1/figures"),
}


def test_the_document_names_every_path_of_api_md():
    document = spec()
    assert document["openapi"].startswith("3.")
    documented = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert API_MD <= documented
    assert set(document["components"]["schemas"]) >= {"Book", "Entry", "Verification", "Figures", "Problem"}
    entry = document["components"]["schemas"]["Entry"]["properties"]
    assert {"book", "seq", "kind", "revokes", "reason", "deed", "decision", "tally", "inscribed_at", "prev_hash",
            "hash"} <= set(entry)


def test_every_documented_path_is_served(runtime):
    app = create_app(runtime=runtime)
    adapter = app.url_map.bind("localhost")
    for path, ops in spec()["paths"].items():
        concrete = (path.replace("{code}", "CAH-DM").replace("{seq}", "1").replace("{period}", "2024-05")
                    .replace("{quarter}", "2024-Q2").replace("{number}", "1"))
        for method in ops:
            adapter.match(concrete, method=method.upper())
