"""Structured logs for the long-running processes: one JSON object per line (journald, a container).

:func:`event` writes one named event with its fields; :class:`JsonLines` formats every record that
way (other libraries' lines too); :func:`log_thread_crashes` turns an exception that ends a thread
into an event instead of a bare traceback. ``Newsletter.log_events_as_json`` sets them up for
``schedule run``.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from newsletter.errors import describe

#: The logger of the structured events.
EVENTS = logging.getLogger("newsletter.events")


def event(name: str, level: int = logging.INFO, *, exc_info: Any = None, **fields: Any) -> None:
    """One structured log line (JSON) per event, for journald or a container's log.

    :param exc_info: an exception (or ``sys.exc_info()`` triple) whose traceback goes with the line.
    """
    EVENTS.log(level, json.dumps({"event": name, **fields}, ensure_ascii=False, default=str), exc_info=exc_info)


class QuietJobs(logging.Filter):
    """Drops APScheduler's two lines per run ("Running job …", "Job … executed successfully") of routine
    jobs; their failures and everything else still pass."""

    def __init__(self, *job_ids: str) -> None:
        super().__init__()
        self.job_ids = frozenset(job_ids)

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("apscheduler.executors") or record.levelno > logging.INFO:
            return True
        job = record.args[0] if isinstance(record.args, tuple) and record.args else None
        return getattr(job, "id", None) not in self.job_ids


def log_thread_crashes() -> None:
    """Log an exception that ends a thread (APScheduler's, a send's) as an error line, not a bare traceback."""

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        thread = args.thread.name if args.thread is not None else "?"
        event("thread_crashed", logging.CRITICAL, exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
              thread=thread, error=describe(args.exc_value) if args.exc_value is not None else args.exc_type.__name__)

    threading.excepthook = hook


class JsonLines(logging.Formatter):
    """Every record as one JSON object: the events as they are, anything else (APScheduler,
    SQLAlchemy, warnings) as ``{"event": "log", "message": …}``; level and logger added to both."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        payload: Any = None
        if message.startswith("{"):
            try:
                payload = json.loads(message)
            except ValueError:
                payload = None
        if not isinstance(payload, dict) or "event" not in payload:
            payload = {"event": "log", "message": message}
        line = {"level": record.levelname, "logger": record.name, **payload}
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)
