"""Scheduled sending: due times (:mod:`~newsletter.schedule.due`), the readiness gate
(:mod:`~newsletter.schedule.gate`) and the stored jobs (:mod:`~newsletter.schedule.jobs`)."""


def _job(kind: str, day: str, due: str) -> str:
    """What one-off jobs stored by earlier versions name (``newsletter.schedule:_job``): kept so that
    the job store can still load them; the running scheduler runs them on itself like today's."""
    return "no scheduler"
