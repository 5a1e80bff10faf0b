"""R24 through the edges of the distributed deployment, real processes: each service's own gunicorn
behind the gateway of ``sovang cluster`` (``sovang.proxy``), or behind nginx as configured by
``sovang.edge`` (deploy/nginx.conf). The edge asks intake about the session cookie of a request
bound for council or book and passes intake's signed answer on in ``X-Sovang-Person``
(docs/sessions.md). A signed-in person's page is served as theirs; a client's own
``X-Sovang-Person`` never passes, even one signed with the deployment's key; a session signed out
gets the sign-in page."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services import REGISTRY
from services.intake import people
from shared.config import SERVICES, Settings
from shared.sessions import COOKIE, HEADER, Person, sign
from sovang.cli import _runtimes
from sovang.edge import nginx_config
from tests.ops.test_signing import free_port
from tests.sessions.site import MEMBER, PASSWORD

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
KEY = "khoa-phien-chung-cua-ca-trien-khai-" + "0" * 32  # SOVANG_SESSION_KEY, the same for every process
MEMBER_NAME = "Thiếu tá Phan Thành Ngân"  # MEMBER's rank and name in the organisation


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str


@dataclass
class Edge:
    port: int

    def get(self, path: str, cookie: str | None = None, headers: dict[str, str] | None = None) -> Answer:
        return self.request("GET", path, cookie=cookie, headers=headers)

    def request(self, method: str, path: str, body: bytes | None = None, cookie: str | None = None,
                headers: dict[str, str] | None = None) -> Answer:
        sent = dict(headers or {})
        if cookie:
            sent["Cookie"] = f"{COOKIE}={cookie}"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=sent)
            r = conn.getresponse()
            return Answer(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode("utf-8", "replace"))
        finally:
            conn.close()

    def sign_in(self, subject: str) -> str:
        form = f"subject={subject}&password={PASSWORD}&next=".encode()
        r = self.request("POST", "/", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 303, r.body
        found = re.search(rf"{COOKIE}=([^;]+)", r.headers["set-cookie"])
        assert found, r.headers
        return found.group(1)


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _nginx(routes: dict[str, int], port: int, run: Path) -> list[str]:
    """nginx as ``sovang cluster`` starts it (SOVANG_EDGE=nginx), skipped where it is missing."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is missing: .ci/run installs Debian's nginx package", pytrace=False)
        pytest.skip("nginx is missing (apt-get install nginx): NOT CHECKED")
    run.mkdir(parents=True, exist_ok=True)
    conf = run / "nginx.conf"
    conf.write_text(nginx_config({n: [f"127.0.0.1:{p}"] for n, p in routes.items()}, port, str(run),
                                 host="127.0.0.1", user="root" if os.geteuid() == 0 else None, workers="1"), "utf-8")
    return [binary, "-e", "stderr", "-p", str(run), "-c", str(conf), "-g", "daemon off;"]


@pytest.fixture(params=["python", "nginx"])
def edge(request: pytest.FixtureRequest, pg_settings: Settings, org_document: dict, tmp_path: Path) -> Iterator[Edge]:
    """The three services' web processes (gunicorn) and an edge in front of them — the Python
    gateway, or nginx — over one migrated PostgreSQL and Redis, the organisation loaded and
    MEMBER's password set."""
    runtimes = _runtimes(pg_settings)
    for name, rt in runtimes.items():
        rt.migrate()
        REGISTRY[name].load_org(rt, org_document)
    runtimes["intake"].run(people.set_password, "test", MEMBER, PASSWORD)
    for rt in runtimes.values():
        rt.db.dispose()
    pg_settings.home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SOVANG_HOME": str(pg_settings.home), "SOVANG_DATABASE_URL": pg_settings.database_url,
           "SOVANG_BROKER_URL": pg_settings.broker_url, "SOVANG_SESSION_KEY": KEY}
    ports = {name: free_port() for name in SERVICES}
    gateway = free_port()
    nginx = _nginx(ports, gateway, tmp_path / "nginx") if request.param == "nginx" else None
    procs = [_start(["-m", "sovang.cli", "web", name, "--bind", f"127.0.0.1:{port}", "--workers", "1",
                     "--threads", "2"], env, tmp_path / f"{name}.log") for name, port in ports.items()]
    if nginx is not None:
        with (tmp_path / "gateway.log").open("wb") as out:
            procs.append(subprocess.Popen(nginx, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                          start_new_session=True))
    else:
        routes = [a for name, port in ports.items() for a in ("--route", f"{name}=127.0.0.1:{port}")]
        procs.append(_start(["-m", "sovang.proxy", "--bind", f"127.0.0.1:{gateway}", "--workers", "1",
                             "--threads", "4", *routes], env, tmp_path / "gateway.log"))
    try:
        site = Edge(gateway)
        deadline = time.monotonic() + 90
        while True:
            try:
                if site.get("/readyz").status == 200:
                    break
            except OSError:
                pass
            logs = {p.name: p.read_text("utf-8", "replace")[-2000:] for p in tmp_path.glob("*.log")}
            assert all(p.poll() is None for p in procs) and time.monotonic() < deadline, logs
            time.sleep(0.3)
        yield site
    finally:
        for proc in procs:
            _stop(proc)


def _forged(subject: str, roles: tuple[str, ...]) -> str:
    """An assertion as intake makes them, signed with the deployment's own key: what a client who
    had read one, or knew the key, could send."""
    return sign(Person(subject, roles, roles[0], "csrf-of-no-session", "no-session"), KEY.encode())


def test_a_session_through_the_edge(edge: Edge) -> None:
    cookie = edge.sign_in(MEMBER)
    # Vouched for by intake, served by council and book as the person's.
    ballot = edge.get("/ballot/", cookie=cookie)
    assert ballot.status == 200 and MEMBER_NAME in ballot.body and "Đăng xuất" in ballot.body
    roll = edge.get("/honour-roll/", cookie=cookie)
    assert roll.status == 200 and MEMBER_NAME in roll.body and "Đăng xuất" in roll.body
    assert roll.headers["cache-control"] == "private, no-store"
    api = edge.get("/api/v1/session", cookie=cookie)
    assert api.status == 200 and json.loads(api.body)["subject"] == MEMBER

    # A client's own X-Sovang-Person never passes the gateway, however well signed.
    forged = {HEADER: _forged("CAT-0012", ("province_secretary",))}
    alone = edge.get("/ballot/", headers=forged)
    assert alone.status == 303 and alone.headers["location"].startswith("/?next=")
    public = edge.get("/honour-roll/", headers=forged)
    assert public.status == 200 and "Đăng xuất" not in public.body and "CAT-0012" not in public.body
    province = edge.get("/province/", headers=forged)
    assert province.status == 303 and province.headers["location"].startswith("/?next=")
    # With a live session beside it, the person is the session's, never the header's.
    mixed = edge.get("/province/", cookie=cookie, headers=forged)
    assert mixed.status == 403 and "CAT-0012" not in mixed.body
    assert MEMBER_NAME in edge.get("/ballot/", cookie=cookie, headers=forged).body

    # Signed out: the old cookie is nobody's; the page asked for sends to the sign-in page.
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', ballot.body).group(1)
    out = edge.request("POST", "/session/sign-out", body=f"csrf_token={csrf}".encode(), cookie=cookie,
                       headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert out.status == 303 and out.headers["location"] == "/?why=signed_out"
    after = edge.get("/ballot/", cookie=cookie)
    assert after.status == 303 and after.headers["location"] == "/?next=/ballot/"
    signin = edge.get(after.headers["location"], cookie=cookie)
    assert signin.status == 200 and "Mã cán bộ" in signin.body and "Đăng nhập" in signin.body
    assert "Đăng xuất" not in edge.get("/honour-roll/", cookie=cookie).body
    assert edge.get("/api/v1/session", cookie=cookie).status == 401
    assert edge.get("/ballot/", cookie=cookie, headers=forged).status == 303
