"""The connections of an SMTP send take turns at the interpreter, giving the turn up only where they wait."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.delivery.base import Turns
from newsletter.render.mime import BuiltMessage, MessageFactory, Personal
from newsletter.store.database import Store
from tests.helpers.sending import add_people, send, smtp_config
from tests.sink import Sink

#: The longest any step here may wait for another thread (never reached when the code is right).
PATIENCE = 10.0


def test_waiting_gives_the_turn_to_another_thread_and_takes_it_back() -> None:
    turns = Turns()
    order: list[str] = []
    other_ran = threading.Event()

    def other() -> None:
        with turns.turn():
            order.append("other")
        other_ran.set()

    with turns.turn():
        thread = threading.Thread(target=other)
        thread.start()
        assert not other_ran.wait(0.05)  # the turn is held: the other thread waits for it
        with turns.waiting():
            assert other_ran.wait(PATIENCE)
        order.append("back")
    thread.join(PATIENCE)
    assert order == ["other", "back"]


def test_waiting_without_the_turn_gives_nothing_and_an_error_keeps_the_turn_held() -> None:
    turns = Turns()
    with turns.waiting():  # an adapter used on its own: nothing is held
        pass
    with turns.turn():
        with pytest.raises(OSError):
            with turns.waiting():
                raise OSError("connection reset")
        taken = threading.Event()
        def take() -> None:
            with turns.turn():
                taken.set()

        thread = threading.Thread(target=take)
        thread.start()
        assert not taken.wait(0.05)  # held again after the error: nobody else got it
    assert taken.wait(PATIENCE)
    thread.join(PATIENCE)


def test_an_smtp_send_builds_one_message_at_a_time_across_its_connections(
        store: Store, project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three connections: while one builds a message (here made to pause, as a thread does at every system
    call), the others wait for their turn instead of taking the interpreter from it at that moment."""
    building = [0, 0]  # now, the most at once
    lock = threading.Lock()
    build_from = MessageFactory.build_from

    def slow_build(self: MessageFactory, person: Personal) -> BuiltMessage:
        with lock:
            building[0] += 1
            building[1] = max(building)
        time.sleep(0.002)  # lets the interpreter go, as a socket write or a commit does
        try:
            return build_from(self, person)
        finally:
            with lock:
                building[0] -= 1

    monkeypatch.setattr(MessageFactory, "build_from", slow_build)
    with Sink(pipelining=True) as sink:
        smtp_config(project, sink.port, connections=3)
        add_people(store, 60)
        report = send(load_settings(project), store)
    assert report.counts == {"sent": 60}
    assert building[1] == 1
