"""The rules of signing in (R24), pure: what a password must be, when a subject or an address has
failed too often, when a session is idle, and what the sign-in page says of a session that ended."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from shared.text import text_problem

MIN_PASSWORD = 8
MAX_PASSWORD = 256
# last_seen_at is written at most this often per session: enough for an idle limit in minutes.
TOUCH_EVERY = dt.timedelta(seconds=15)

WRONG_PAIR = "Mã cán bộ hoặc mật khẩu không đúng."
TOO_MANY = "Đăng nhập sai quá nhiều lần; hãy đợi ít phút rồi thử lại."
NOT_YOUR_ROLE = "Bạn không giữ vai trò này."

# Why a session ended, as the sign-in page says it (UI.md).
ENDED = {
    "signed_out": "Bạn đã đăng xuất.",
    "idle": "Phiên làm việc đã hết hạn vì lâu không thao tác; hãy đăng nhập lại.",
    "everywhere": "Phiên làm việc đã bị kết thúc (đăng xuất mọi nơi); hãy đăng nhập lại.",
}


@dataclass(frozen=True)
class StoredSession:
    """A browser's session as intake keeps it: never its id, only the id's digest."""

    digest: str
    subject: str
    role: str  # the role it acts with when a request asks none
    csrf: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    ended_at: dt.datetime | None = None
    ended_why: str | None = None  # signed_out | idle | everywhere


@dataclass(frozen=True)
class Limits:
    """R24's sign-in limits: failures per subject and per address within a window."""

    window_minutes: int
    per_subject: int
    per_address: int

    def since(self, now: dt.datetime) -> dt.datetime:
        """The start of the window that ends ``now``."""
        return now - dt.timedelta(minutes=self.window_minutes)

    def exceeded(self, by_subject: int, by_address: int) -> bool:
        """R24: whether the failures counted within the window stop any further try."""
        return by_subject >= self.per_subject or by_address >= self.per_address

    @property
    def retry_after(self) -> int:
        """Seconds a refused person is told to wait: the whole window."""
        return self.window_minutes * 60


def password_problem(password: str) -> str | None:
    """Why a password cannot be set (R24, R4a), or None."""
    if len(password) < MIN_PASSWORD:
        return f"Mật khẩu cần ít nhất {MIN_PASSWORD} ký tự."
    if len(password) > MAX_PASSWORD:
        return f"Mật khẩu tối đa {MAX_PASSWORD} ký tự."
    return text_problem(password)


def idle(last_seen: dt.datetime, now: dt.datetime, idle_minutes: int) -> bool:
    """R24: a session unused longer than ``idle_minutes`` is over."""
    return now - last_seen > dt.timedelta(minutes=idle_minutes)


def due_a_touch(last_seen: dt.datetime, now: dt.datetime) -> bool:
    """Whether a request should renew the session's last use (at most every ``TOUCH_EVERY``)."""
    return now - last_seen > TOUCH_EVERY
