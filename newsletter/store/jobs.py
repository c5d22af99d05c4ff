"""The scheduler's jobs in the project's database: APScheduler's SQLAlchemy job store on the store's engine.

The scheduler never touches the database itself; it asks here for a job store. APScheduler
owns the table it keeps there (``apscheduler_jobs``) and the statements on it.
"""

from __future__ import annotations

from typing import Any, Callable

from newsletter.store.database import Store


def job_store(store: Store) -> Any:
    """APScheduler's job store on the project's database, for a scheduler that only lists or adds jobs."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    return SQLAlchemyJobStore(engine=store.engine)


def shared_job_store(store: Store, on_gone: Callable[[str], None]) -> Any:
    """The job store, made safe for several schedulers on one database.

    Two processes may both run a one-off job; the second to finish then finds it removed, and
    APScheduler 3 lets that lookup error kill its main thread (no job would run again). Here a
    job another process already removed or updated is left as that process left it, and
    ``on_gone`` is told its id.
    """
    from apscheduler.jobstores.base import JobLookupError
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    class SharedJobStore(SQLAlchemyJobStore):
        def remove_job(self, job_id: str) -> None:
            try:
                super().remove_job(job_id)
            except JobLookupError:
                on_gone(job_id)

        def update_job(self, job: Any) -> None:
            try:
                super().update_job(job)
            except JobLookupError:
                on_gone(job.id)

    return SharedJobStore(engine=store.engine)
