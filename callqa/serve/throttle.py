"""Login throttling: after a few wrong secrets for one user name, or many from one address, that
name or address must wait before the next try, the wait doubling with each further failure.

A refused try costs nothing (no scrypt), and tries under way count as failures until they end,
so a flood of parallel guesses costs at most a few checks and cannot slow the other users; a
success clears the user's count.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

__all__ = ["Throttle", "Throttled"]


class Throttled(Exception):
    """Too many failed logins: retry after ``retry_after_s`` seconds."""

    def __init__(self, retry_after_s: float):
        super().__init__(f"登录失败次数过多，请 {int(retry_after_s) + 1} 秒后再试")
        self.retry_after_s = retry_after_s


@dataclass
class _Count:
    failures: int = 0
    pending: int = 0  # tries under way (hashing)
    until: float = 0.0


@dataclass
class Throttle:
    """Failure counts per user name and per client address.

    Attributes:
        free_per_user: failures of one name before it must wait.
        free_per_address: failures from one address (any names) before it must wait.
        first_wait_s: the first wait; each further failure doubles it, up to ``max_wait_s``.
    """

    free_per_user: int = 5
    free_per_address: int = 20
    first_wait_s: float = 1.0
    max_wait_s: float = 300.0
    _counts: dict[tuple[str, str], _Count] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, name: str, address: str) -> None:
        """Reserve a try for ``name`` from ``address`` (end it with :meth:`done`), or raise
        :class:`Throttled` when either is still waiting or has as many tries under way as it
        has failures left: a burst of parallel guesses cannot outrun the count."""
        now = time.monotonic()
        keys = ((("user", name), self.free_per_user), (("addr", address), self.free_per_address))
        with self._lock:
            wait = 0.0
            for key, free in keys:
                c = self._counts.get(key)
                if c is not None:
                    wait = max(wait, c.until - now)
                    if c.failures + c.pending >= free:
                        wait = max(wait, self.first_wait_s)
            if wait > 0:
                raise Throttled(wait)
            for key, _ in keys:
                self._counts.setdefault(key, _Count()).pending += 1

    def done(self, name: str, address: str, ok: bool | None) -> None:
        """End a try: ``ok`` True clears the name's failures, False counts one (and may start
        a wait), None (the check itself failed) counts nothing."""
        now = time.monotonic()
        keys = ((("user", name), self.free_per_user), (("addr", address), self.free_per_address))
        with self._lock:
            for key, free in keys:
                c = self._counts.setdefault(key, _Count())
                c.pending = max(0, c.pending - 1)
                if ok is False:
                    c.failures += 1
                    if c.failures >= free:
                        c.until = now + min(self.max_wait_s,
                                            self.first_wait_s * 2 ** (c.failures - free))
            if ok:
                self._counts.pop(("user", name), None)
            if len(self._counts) > 10_000:  # forget the oldest (a flood of made-up names)
                for key in sorted(self._counts, key=lambda k: self._counts[k].until)[:5_000]:
                    if not self._counts[key].pending:
                        del self._counts[key]
