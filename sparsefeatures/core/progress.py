"""Progress lines of long computations (the trainings, the sparse solver), sent to a `log`
callable: one rate for all of them, read at call time (tests set it to 0 for a line per check)."""

from __future__ import annotations

import time
from collections.abc import Callable

# Seconds of wall time between two progress lines.
LOG_EVERY_S = 10.0


class Throttled:
    """Sends `prefix: <seconds since begin> s  <status>` to `log` at most every LOG_EVERY_S
    seconds, and on demand (force)."""

    def __init__(self, log: Callable[[str], None] | None, prefix: str, begin: float) -> None:
        self.log, self.prefix, self.begin, self.last = log, prefix, begin, begin

    def __call__(self, status: str, force: bool = False) -> None:
        now = time.perf_counter()
        if self.log is not None and (force or now - self.last >= LOG_EVERY_S):
            self.log(f"{self.prefix}: {now - self.begin:7.1f} s  {status}")
            self.last = now
