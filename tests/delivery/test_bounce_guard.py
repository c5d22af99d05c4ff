"""The bounce brake's arithmetic: when the hard bounces among the latest messages pause a send."""

from __future__ import annotations

import pytest

from newsletter.delivery.bounce_guard import MIN_JUDGED, BounceGuard, minimum_judged


def fed(max_rate: float, window: int, outcomes: list[bool]) -> BounceGuard:
    guard = BounceGuard(max_rate, window)
    for key, bounced in enumerate(outcomes):
        guard.add(key, bounced)
    return guard


@pytest.mark.parametrize("messages, bounces, paused", [
    (100, 4, False),   # under: 4 %
    (100, 5, False),   # at the line: 5 % is allowed, only above pauses
    (100, 6, True),    # over: 6 %
    (1000, 50, False),  # at, over a whole window
    (1000, 51, True),
    (99, 40, False),   # the window does not hold enough messages yet to judge
], ids=["under", "at", "over", "at, full window", "over, full window", "not enough messages yet"])
def test_a_send_pauses_only_above_the_rate_once_enough_messages_are_seen(messages: int, bounces: int,
                                                                          paused: bool) -> None:
    guard = fed(0.05, 1000, [True] * bounces + [False] * (messages - bounces))
    verdict = guard.verdict()
    assert (verdict is not None) is paused
    if verdict is not None:
        assert (verdict.bounces, verdict.messages) == (bounces, messages)
        assert f"{bounces} hard bounces among the last {messages} messages" in verdict.describe()


def test_old_bounces_slide_out_of_the_window() -> None:
    guard = fed(0.05, 100, [True] * 10 + [False] * 100)  # the ten bounces are older than the last 100 messages
    assert guard.messages == 100 and guard.bounces == 0 and guard.verdict() is None


def test_bounces_reported_later_count_while_their_message_is_in_the_window() -> None:
    guard = fed(0.05, 100, [False] * 150)
    guard.add_late(range(0, 10))  # messages 0–9 have slid out already
    assert guard.verdict() is None
    guard.add_late(range(140, 146))  # six of the last hundred: 6 %
    verdict = guard.verdict()
    assert verdict is not None and verdict.bounces == 6
    guard.add_late(range(140, 146))  # the same bounces read again (every look reads them all)
    assert guard.bounces == 6
    for key in range(150, 245):  # the window is now 145–244: one reported bounce is left in it
        guard.add(key, False)
    assert guard.bounces == 1 and guard.verdict() is None


def test_a_rate_of_zero_never_pauses() -> None:
    assert fed(0.0, 100, [True] * 200).verdict() is None


@pytest.mark.parametrize("window, minimum", [(1000, MIN_JUDGED), (100, 100), (20, 20)])
def test_a_small_window_is_judged_once_full(window: int, minimum: int) -> None:
    assert minimum_judged(window) == minimum
    assert fed(0.05, window, [True] * (minimum - 1)).verdict() is None
    assert fed(0.05, window, [True] * minimum).verdict() is not None
