"""The bounce-rate brake of a send: when too many of the latest messages bounce, the send pauses itself.

Mailbox providers judge a sender by how often it mails addresses that do not exist: a list
that was never cleaned, or an import of the wrong file, can get the sending domain throttled
or blocked within one send. The engine feeds every message handed over to a
:class:`BounceGuard` (its key and whether it hard-bounced at once, the SMTP 5.1.x case), plus
the hard bounces reported later about messages of this run (webhooks, DSNs); the guard says
when the hard bounces among the last ``[delivery] bounce_window`` messages exceed
``[delivery] max_bounce_rate``.

It judges nothing before :func:`minimum_judged` messages are in the window: the first few
messages of a send say little (two bounces among the first ten is 20 % and may be chance).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Iterable

#: The fewest messages the rate is judged on (or the whole window, when it is smaller).
MIN_JUDGED = 100


def minimum_judged(window: int) -> int:
    """How many messages the window must hold before the rate is judged: :data:`MIN_JUDGED`, or the
    whole window when it is smaller than that."""
    return min(window, MIN_JUDGED)


@dataclass(frozen=True)
class Verdict:
    """The figures that paused a send."""

    bounces: int
    messages: int
    max_rate: float

    @property
    def rate(self) -> float:
        return self.bounces / self.messages if self.messages else 0.0

    def describe(self) -> str:
        """One line for the log, the ledger and ``status`` (English, like the ledger's reasons)."""
        from newsletter.delivery.reasons import BOUNCE_BRAKE

        return BOUNCE_BRAKE % {"bounces": self.bounces, "messages": self.messages, "rate": f"{self.rate:.1%}",
                               "limit": f"{self.max_rate:g}", "percent": f"{self.max_rate:.1%}"}


class BounceGuard:
    """A sliding window over the latest messages handed over and whether each hard-bounced.

    Each call costs the same whatever the window's size (the engine calls it for every message).
    Not thread-safe: the engine calls it under its own lock.
    """

    def __init__(self, max_rate: float, window: int) -> None:
        self.max_rate = max_rate
        self.window = window
        self._latest: deque[int] = deque()  # the keys of the window, oldest first
        self._bounced: dict[int, bool] = {}  # key in the window -> counted as a hard bounce
        self._late: set[int] = set()  # keys reported as hard bounces after they were handed over
        self._bounces = 0

    @property
    def enabled(self) -> bool:
        return self.max_rate > 0

    def add(self, key: int, bounced: bool) -> None:
        """One message handed over (sent, refused or in doubt) and whether it hard-bounced at once."""
        if len(self._latest) == self.window:
            self._bounces -= self._bounced.pop(self._latest.popleft())
        counted = bounced or key in self._late
        self._latest.append(key)
        self._bounced[key] = counted
        self._bounces += counted

    def add_late(self, keys: Iterable[int]) -> None:
        """Messages of this run reported as hard bounces afterwards (counted while in the window)."""
        for key in keys:
            self._late.add(key)
            if self._bounced.get(key) is False:
                self._bounced[key] = True
                self._bounces += 1

    @property
    def messages(self) -> int:
        return len(self._latest)

    @property
    def bounces(self) -> int:
        return self._bounces

    def verdict(self) -> Verdict | None:
        """The figures when the send must pause, else None (disabled, too few messages, or under the line)."""
        if not self.enabled or self.messages < minimum_judged(self.window):
            return None
        if self._bounces / self.messages > self.max_rate:
            return Verdict(self._bounces, self.messages, self.max_rate)
        return None
