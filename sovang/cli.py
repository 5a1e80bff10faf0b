"""The ``sovang`` command (API.md, "The command line").

Every command reads its settings from the environment (``shared.config``); with none set it
runs the embedded default under ``$SOVANG_HOME`` (default ``./var``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from services import REGISTRY
from shared import heap
from shared.config import SERVICES, Settings

log = logging.getLogger("sovang")


class CliError(Exception):
    """A command that cannot be carried out; printed on stderr, exit status 2."""


def _runtime(name: str, settings: Settings) -> Any:
    return REGISTRY[name].build_runtime(settings)


def _runtimes(settings: Settings, migrate: bool = True) -> dict[str, Any]:
    runtimes = {name: _runtime(name, settings) for name in SERVICES}
    if migrate:
        settings.home.mkdir(parents=True, exist_ok=True)
        for rt in runtimes.values():
            rt.migrate()
    return runtimes


def _databases(settings: Settings) -> dict[str, Any]:
    """Each service's database alone, migrated if it never was: what token commands need,
    without loading the services' web and worker code (a token is issued in a blink)."""
    from shared.db import Database

    settings.home.mkdir(parents=True, exist_ok=True)
    dbs = {}
    for name in SERVICES:
        db = Database(settings, name)
        if not _migrated(db):
            db.migrate(REGISTRY[name].migrations)
        dbs[name] = db
    return dbs


def _migrated(db: Any) -> bool:
    import sqlalchemy as sa

    with db.reading() as s:
        try:
            return s.execute(sa.text("SELECT version_num FROM alembic_version")).first() is not None
        except sa.exc.DBAPIError:
            return False


# -- commands ----------------------------------------------------------------------------------
def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    _runtimes(settings)
    print("Đã cập nhật lược đồ cơ sở dữ liệu của intake, council, book.")
    return 0


def cmd_org_load(settings: Settings, args: argparse.Namespace) -> int:
    from shared.org import Organisation, OrgError

    path = Path(args.file)
    try:
        doc = json.loads(path.read_text("utf-8"))
        org = Organisation.loadable(doc)
    except FileNotFoundError:
        raise CliError(f"không tìm thấy tệp {path}") from None
    except (ValueError, OrgError) as exc:
        raise CliError(f"tệp tổ chức không hợp lệ: {exc}") from None
    from shared.org import OrgRefused
    from sovang.orgload import load_everywhere

    runtimes = _runtimes(settings)
    try:
        changed = load_everywhere(runtimes, doc)
    except OrgRefused as refused:
        # R25: nothing was written in any service.
        raise CliError("tệp tổ chức bị từ chối, không dịch vụ nào thay đổi:\n- " + "\n- ".join(refused.problems)) from None
    finally:
        for rt in runtimes.values():
            rt.db.dispose()
    what = ", ".join(changed) if changed else "không có gì thay đổi"
    print(f"Đã nạp {org.province_name}: {len(org.units)} đơn vị, {len(org.subunits)} đơn vị cơ sở, "
          f"{len(org.officers)} cán bộ ({what}).")
    return 0


def cmd_token_issue(settings: Settings, args: argparse.Namespace) -> int:
    from shared import audit
    from shared.auth import new_token, store_token
    from shared.org import ROLES
    from shared.orgcopy import OrgCache

    if args.role not in ROLES:
        raise CliError(f"vai trò không hợp lệ {args.role!r}; một trong: {', '.join(ROLES)}")
    dbs = _databases(settings)
    org = OrgCache(dbs["intake"]).get()
    if org is None:
        raise CliError("chưa nạp tổ chức: chạy `sovang org load FILE.json` trước")
    if not org.holds_role(args.role, args.subject):
        raise CliError(f"{args.subject} không giữ vai trò {args.role}")
    token = new_token()
    ttl = args.ttl_days or settings.token_ttl_days
    for db in dbs.values():
        with db.unit_of_work() as uow:
            store_token(uow, token, args.role, args.subject, ttl)
            # R23: who was given access, never the token itself.
            audit.record(uow, audit.CLI, "token.issued", f"{args.role}:{args.subject}", {"ttl_days": ttl},
                         unit=audit.unit_of(org, args.role, args.subject))
            uow.commit()
        db.dispose()
    print(token)
    return 0


def cmd_token_revoke(settings: Settings, args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from shared import audit
    from shared.auth import revoke_subject, revoke_token, token_hash
    from shared.orgcopy import OrgCache
    from shared.tables import tokens

    if (args.token is None) == (args.subject is None):
        raise CliError("cho một mã (TOKEN) hoặc --subject CODE, không cả hai")
    revoked = 0
    dbs = _databases(settings)
    org = OrgCache(dbs["intake"]).get()
    for db in dbs.values():
        with db.unit_of_work() as uow:
            if args.token is not None:
                held = uow.session.execute(
                    sa.select(tokens.c.role, tokens.c.subject).where(tokens.c.token_hash == token_hash(args.token))
                ).first()
                done = int(revoke_token(uow, args.token))
                if done:
                    # R23: whose access ended, never the token itself.
                    audit.record(uow, audit.CLI, "token.revoked", f"{held.role}:{held.subject}", {},
                                 unit=audit.unit_of(org, held.role, held.subject) if org else None)
            else:
                done = revoke_subject(uow, args.subject)
                if done:
                    audit.record(uow, audit.CLI, "token.revoked", f"*:{args.subject}", {"tokens": done},
                                 unit=audit.unit_of(org, "officer", args.subject) if org else None)
            revoked = max(revoked, done)
            uow.commit()
        db.dispose()
    if args.subject is not None:
        print(f"Đã thu hồi {revoked} mã của {args.subject}.")
        return 0
    if not revoked:
        raise CliError("không tìm thấy mã còn hiệu lực này")
    print("Đã thu hồi mã.")
    return 0


def cmd_token_list(settings: Settings, args: argparse.Namespace) -> int:
    """R24: the tokens in force, never their secret; last used is the latest of any service."""
    import sqlalchemy as sa

    from shared import clock
    from shared.db import utcnow
    from shared.tables import tokens

    now = utcnow()
    found: dict[str, dict[str, Any]] = {}
    for db in _databases(settings).values():
        query = sa.select(tokens).where(tokens.c.revoked_at.is_(None), tokens.c.expires_at > now)
        if args.subject:
            query = query.where(tokens.c.subject == args.subject)
        with db.reading() as s:
            for row in s.execute(query):
                seen = found.setdefault(row.token_hash, dict(row._mapping))
                if row.last_used_at and (seen["last_used_at"] is None or row.last_used_at > seen["last_used_at"]):
                    seen["last_used_at"] = row.last_used_at
        db.dispose()

    def when(value: Any) -> str:
        return clock.isoformat(value) if value is not None else "-"

    rows = sorted(found.values(), key=lambda r: (r["subject"], r["issued_at"]))
    print("\t".join(("role", "subject", "issued", "expires", "last_used")))
    for r in rows:
        print("\t".join((r["role"], r["subject"], when(r["issued_at"]), when(r["expires_at"]), when(r["last_used_at"]))))
    return 0


def _new_password() -> str:
    """Asked twice on a terminal; the first line of stdin otherwise (API.md)."""
    import getpass

    if sys.stdin.isatty():
        first = getpass.getpass("Mật khẩu mới: ")
        if getpass.getpass("Nhập lại mật khẩu: ") != first:
            raise CliError("hai lần nhập không khớp; mật khẩu không đổi")
        return first
    line = sys.stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def _intake(settings: Settings) -> Any:
    rt = _runtime("intake", settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    if not _migrated(rt.db):
        rt.migrate()
    return rt


def cmd_user_password(settings: Settings, args: argparse.Namespace) -> int:
    """R24: a person's password for signing in; their sessions end."""
    from services.intake import people

    rt = _intake(settings)
    if rt.orgs.get() is None:
        raise CliError("chưa nạp tổ chức: chạy `sovang org load FILE.json` trước")
    try:
        rt.run(people.set_password, "cli", args.subject, _new_password())
    except people.PasswordRefused as exc:
        raise CliError(str(exc)) from None
    finally:
        rt.db.dispose()
    print(f"Đã đặt mật khẩu cho {args.subject}.")
    return 0


def cmd_user_signout(settings: Settings, args: argparse.Namespace) -> int:
    """R24: every session of a person ends at once (a lost phone)."""
    from services.intake import people

    rt = _intake(settings)
    try:
        n = rt.run(people.sign_out_everywhere, "cli", args.subject)
    finally:
        rt.db.dispose()
    print(f"Đã kết thúc {n} phiên của {args.subject}.")
    return 0


def _metrics_dir(name: str) -> None:
    """Count metrics across this process's children (gunicorn workers, Celery's prefork pool):
    set before prometheus_client is first imported (shared.metrics)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        import atexit
        import shutil
        import tempfile

        _forget_dead_metrics(Path(tempfile.gettempdir()))
        owner = os.getpid()
        path = Path(tempfile.gettempdir()) / f"sovang-metrics-{name}-{owner}"
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
        # Gone with the process that made it (its children share it and must not remove it).
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(path, ignore_errors=True))


def _forget_dead_metrics(tmp: Path) -> None:
    """Remove the metrics folders of processes no longer running (one killed left its own)."""
    import shutil

    for folder in tmp.glob("sovang-metrics-*-*"):
        pid = folder.name.rsplit("-", 1)[-1]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
        except PermissionError:
            pass  # another user's process, alive


def cmd_book_rotate_key(settings: Settings, args: argparse.Namespace) -> int:
    """R15b: a new signing key for the book service; the old public key stays listed."""
    from services.book.signing import rotate

    settings.home.mkdir(parents=True, exist_ok=True)
    old, new = rotate(settings)
    print(f"Khóa ký mới {new} (khóa cũ {old} vẫn được liệt kê ở /api/v1/books/keys). "
          "Khởi động lại các tiến trình của dịch vụ book để ký bằng khóa mới.")
    return 0


def cmd_book_import(settings: Settings, args: argparse.Namespace) -> int:
    """R22: the paper book (``sovang-paper-book/1``) into a book with no entry yet; all or nothing."""
    path = Path(args.file)
    try:
        doc = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CliError(f"không tìm thấy tệp {path}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CliError(f"tệp {path} không phải JSON UTF-8 hợp lệ: {exc}; không mục nào được nhập") from None
    from services.book import services
    from services.book.app import run
    from shared import audit
    from shared.refusals import Refused

    settings.home.mkdir(parents=True, exist_ok=True)
    rt = _runtime("book", settings)
    try:
        rt.migrate()
        created = run(rt, services.import_paper_book, audit.CLI, doc)
    except Refused as refused:
        errors = refused.errors or {}
        lines = [refused.detail] + [f"  {where}: {' '.join(why)}" for where, why in list(errors.items())[:50]]
        if len(errors) > 50:
            lines.append(f"  … và {len(errors) - 50} chỗ khác")
        raise CliError("\n".join(lines)) from None
    finally:
        rt.db.dispose()
    first, last = created[0], created[-1]
    print(f"Đã nhập {len(created)} mục vào sổ vàng {first.book} (từ sổ giấy, R22): mục số 1 đến {last.seq}, "
          f"quyết định từ {first.decision['date']} đến {last.decision['date']}; đầu chuỗi {last.hash}.")
    return 0


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    _metrics_dir(f"worker-{args.service}")
    app = REGISTRY[args.service].create_worker(settings)
    if settings.metrics_port:
        from shared import metrics
        from shared.celery_app import redis_client

        runtime = _runtime(args.service, settings)
        metrics.serve(settings.metrics_port, metrics.StateCollector(
            runtime.db, lambda: redis_client(settings, timeout=1.0, retries=0)))
    argv = [
        "worker", "-Q", args.service, "-n", f"{args.service}-{os.getpid()}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat",
        "-P", args.pool, "-c", str(args.concurrency), "-l", settings.log_level,
    ]
    heap.settle()  # before the pool forks: its children share what the parent set apart
    app.worker_main(argv)
    return 0


def cmd_beat(settings: Settings, args: argparse.Namespace) -> int:
    """The scheduler (R21, R20): exactly one per deployment."""
    (scheduler,) = (s for s in REGISTRY.values() if s.beat)
    app = scheduler.create_worker(settings)
    settings.home.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "-s", str(settings.home / "beat-schedule"), "-l", settings.log_level])
    return 0


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    """One service's web process under gunicorn (the distributed deployment)."""
    from sovang.web import serve_gunicorn

    _metrics_dir(f"web-{args.service}")
    serve_gunicorn(args.service, settings, args.bind, args.workers, args.threads)
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    """Play a whole quarter through the services, then serve it if asked."""
    from shared.clock import Quarter
    from sovang.demo import DemoError, run_demo

    if args.home:
        settings = settings.with_(home=Path(args.home).resolve())
    if not os.environ.get("SOVANG_LOG_LEVEL"):
        # The demo tells its own story; the services' routine logs (PDF fonts…) would drown it.
        logging.getLogger().setLevel(logging.WARNING)
    try:
        quarter = Quarter.parse(args.quarter) if args.quarter else None
    except ValueError:
        raise CliError(f"quý không hợp lệ {args.quarter!r}: dùng YYYY-Qn") from None
    try:
        run_demo(settings, args.seed, quarter, args.port)
    except DemoError as exc:
        raise CliError(str(exc)) from None
    if args.serve:
        from sovang.up import run_up

        return run_up(settings, "127.0.0.1", args.port)
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from sovang.up import run_up

    return run_up(settings, args.host, args.port)


def cmd_cluster(settings: Settings, args: argparse.Namespace) -> int:
    """The distributed topology as real processes on this machine (PostgreSQL + Redis)."""
    from sovang.cluster import Cluster, ClusterError, per_service, run_cluster

    try:
        cluster = Cluster(
            settings, host=args.host, port=args.port, web=per_service(args.web, 2),
            workers=per_service(args.workers, 2), concurrency=args.concurrency, pool=args.pool,
            gateway_workers=args.gateway_workers, beat=not args.no_beat,
        )
    except (ClusterError, ValueError) as exc:
        raise CliError(str(exc)) from None
    return run_cluster(cluster)


def _parked_rows(settings: Settings, service: str | None) -> list[tuple[str, Any]]:
    from shared import parked

    rows = []
    for name, db in _databases(settings).items():
        # Every database opened is closed, the ones with nothing parked and the ones not asked too.
        try:
            if not service or name == service:
                rows.extend((name, row) for row in parked.listed(db))
        finally:
            db.dispose()
    return rows


def cmd_parked_list(settings: Settings, args: argparse.Namespace) -> int:
    """The messages parked for an operator, in every service (or one)."""
    rows = _parked_rows(settings, args.service)
    for name, row in rows:
        if args.json:
            print(json.dumps({"service": name, **{k: (v.isoformat() if hasattr(v, "isoformat") else v)
                                                  for k, v in row.items()}}, ensure_ascii=False))
        else:
            print(f"{name}\t{row['message_id']}\t{row['type']}\t{row['parked_at']:%Y-%m-%d %H:%M:%S}\t"
                  f"{row['deliveries']} lần\t{row['error'][:200]}")
    if not args.json:
        print(f"{len(rows)} thư đang bị giữ lại.")
    return 0


def _parked_owner(settings: Settings, message_id: str) -> tuple[str, Any]:
    from shared import parked

    found = None
    for name, db in _databases(settings).items():
        if found is None and parked.find(db, message_id) is not None:
            found = name, db
        else:
            db.dispose()
    if found is None:
        raise CliError(f"không có thư bị giữ lại mang mã {message_id}")
    return found


def cmd_parked_replay(settings: Settings, args: argparse.Namespace) -> int:
    """Send a parked message again, as it was received, once its cause is fixed. One that no key
    of ours signed is never sent (shared.signing): drop it instead. The same as the admin's
    **Gửi lại** (shared.parked), recorded (R23)."""
    from shared import audit, parked

    name, db = _parked_owner(settings, args.message_id)
    try:
        row = parked.replay(settings, name, db, args.message_id, audit.CLI)
    except parked.Unsigned as exc:
        raise CliError(f"không gửi lại thư {args.message_id}: {exc.reason}; xoá nó bằng `sovang parked drop`") \
            from None
    except parked.ParkedError as exc:
        raise CliError(exc.reason) from None
    finally:
        db.dispose()
    print(f"Đã gửi lại thư {args.message_id} ({row['type']}) tới hàng đợi {name}.")
    return 0


def cmd_parked_drop(settings: Settings, args: argparse.Namespace) -> int:
    from shared import audit, parked

    name, db = _parked_owner(settings, args.message_id)
    try:
        row = parked.drop(db, args.message_id, audit.CLI)
    except parked.ParkedError as exc:
        raise CliError(exc.reason) from None
    finally:
        db.dispose()
    print(f"Đã xoá thư bị giữ lại {args.message_id} ({row['type']}) của {name}.")
    return 0


# -- parsing -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sovang", description="Sổ vàng lập công – Mỗi ngày một việc tốt vì Nhân dân")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="chạy mọi dịch vụ, worker và bộ lập lịch trên một cổng")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--host", default="127.0.0.1")
    up.set_defaults(func=cmd_up)

    cluster = sub.add_parser("cluster", help="cụm phân tán trên máy này: web, worker, beat, cổng (PostgreSQL + Redis)")
    cluster.add_argument("--port", type=int, default=8000)
    cluster.add_argument("--host", default="127.0.0.1")
    cluster.add_argument("--web", default="2", help="số worker gunicorn mỗi dịch vụ: 2, hoặc intake=4,book=2")
    cluster.add_argument("--workers", default="2", help="số tiến trình Celery worker mỗi dịch vụ: 2, hoặc intake=1,book=3")
    cluster.add_argument("--concurrency", type=int, default=2)
    cluster.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    cluster.add_argument("--gateway-workers", type=int, default=2)
    cluster.add_argument("--no-beat", action="store_true", help="không chạy beat (một beat chạy ở nơi khác)")
    cluster.set_defaults(func=cmd_cluster)

    demo = sub.add_parser("demo", help="chơi trọn một quý qua các dịch vụ (dữ liệu minh hoạ, tái lập theo --seed)")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--home", default=None, help="thư mục dữ liệu (mặc định SOVANG_HOME); phải trống")
    demo.add_argument("--quarter", default=None, help="quý YYYY-Qn (mặc định: quý gần nhất đã kết thúc)")
    demo.add_argument("--port", type=int, default=8000, help="cổng của các địa chỉ in ra (và của --serve)")
    demo.add_argument("--serve", action="store_true", help="sau khi chơi xong, chạy sovang up trên dữ liệu đó")
    demo.set_defaults(func=cmd_demo)

    org = sub.add_parser("org", help="tổ chức").add_subparsers(dest="org_command", required=True)
    load = org.add_parser("load", help="nạp tệp tổ chức (sovang-org/1) vào mọi dịch vụ")
    load.add_argument("file")
    load.set_defaults(func=cmd_org_load)

    token = sub.add_parser("token", help="mã xác thực").add_subparsers(dest="token_command", required=True)
    issue = token.add_parser("issue", help="cấp một mã; in mã ra stdout")
    issue.add_argument("--role", required=True)
    issue.add_argument("--subject", required=True)
    issue.add_argument("--ttl-days", type=int, default=None)
    issue.set_defaults(func=cmd_token_issue)
    revoke = token.add_parser("revoke", help="thu hồi một mã, hoặc mọi mã của một chủ thể (--subject)")
    revoke.add_argument("token", nargs="?")
    revoke.add_argument("--subject", default=None)
    revoke.set_defaults(func=cmd_token_revoke)
    listing = token.add_parser("list", help="các mã còn hiệu lực (không in mã)")
    listing.add_argument("--subject", default=None)
    listing.set_defaults(func=cmd_token_list)

    user = sub.add_parser("user", help="người dùng đăng nhập (R24)").add_subparsers(dest="user_command", required=True)
    password = user.add_parser("password", help="đặt mật khẩu (hỏi hai lần; không phải terminal: dòng đầu của stdin)")
    password.add_argument("--subject", required=True)
    password.set_defaults(func=cmd_user_password)
    signout = user.add_parser("signout", help="kết thúc mọi phiên của một người")
    signout.add_argument("--subject", required=True)
    signout.set_defaults(func=cmd_user_signout)

    parked = sub.add_parser("parked", help="thư bị giữ lại (parked) giữa các dịch vụ").add_subparsers(
        dest="parked_command", required=True)
    plist = parked.add_parser("list", help="liệt kê thư bị giữ lại")
    plist.add_argument("--service", choices=SERVICES, default=None)
    plist.add_argument("--json", action="store_true", help="mỗi thư một dòng JSON, cả phong bì")
    plist.set_defaults(func=cmd_parked_list)
    replay = parked.add_parser("replay", help="gửi lại một thư bị giữ lại (sau khi sửa nguyên nhân)")
    replay.add_argument("message_id")
    replay.set_defaults(func=cmd_parked_replay)
    drop = parked.add_parser("drop", help="xoá một thư bị giữ lại")
    drop.add_argument("message_id")
    drop.set_defaults(func=cmd_parked_drop)

    book = sub.add_parser("book", help="sổ vàng").add_subparsers(dest="book_command", required=True)
    rotate_key = book.add_parser("rotate-key", help="R15b: khóa ký mới cho các đầu chuỗi; khóa cũ vẫn được liệt kê")
    rotate_key.set_defaults(func=cmd_book_rotate_key)
    paper_import = book.add_parser("import", help="R22: nhập sổ vàng giấy (sovang-paper-book/1) vào một sổ chưa có mục")
    paper_import.add_argument("file")
    paper_import.set_defaults(func=cmd_book_import)

    mig = sub.add_parser("migrate", help="tạo hoặc cập nhật bảng của mọi dịch vụ (Alembic)")
    mig.set_defaults(func=cmd_migrate)

    worker = sub.add_parser("worker", help="một Celery worker của một dịch vụ")
    worker.add_argument("service", choices=SERVICES)
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--pool", default="prefork", choices=["prefork", "threads", "solo"])
    worker.set_defaults(func=cmd_worker)

    beat = sub.add_parser("beat", help="bộ lập lịch (chỉ một cho mỗi triển khai)")
    beat.set_defaults(func=cmd_beat)

    web = sub.add_parser("web", help="tiến trình web của một dịch vụ (gunicorn)")
    web.add_argument("service", choices=SERVICES)
    web.add_argument("--bind", default="127.0.0.1:8001")
    web.add_argument("--workers", type=int, default=2)
    web.add_argument("--threads", type=int, default=4, help="số luồng mỗi worker (1: worker đồng bộ)")
    web.set_defaults(func=cmd_web)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = Settings.from_env()
    from shared import logs

    logs.configure(settings.log_level, settings.log_json, getattr(args, "service", None))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # one line per glyph table of every PDF
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return args.func(settings, args) or 0
    except CliError as exc:
        print(f"sovang: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
