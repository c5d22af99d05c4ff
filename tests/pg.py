"""A throwaway PostgreSQL server on 127.0.0.1 (Debian's binaries), for the store's PostgreSQL tests."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from tests.sink import free_port


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


class PostgreSQL:
    """initdb + pg_ctl in a temporary folder; run as the ``postgres`` user when we are root."""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL server binaries are not installed")
        self.bin = bin_dir
        self.folder = Path(tempfile.mkdtemp(prefix="newsletter-pg-"))
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            shutil.chown(self.folder, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_user, *args], check=True, capture_output=True, timeout=120)

    def start(self, *settings: str) -> str:
        """Start the server (``settings``: extra ``name=value`` server settings) and return its URL."""
        data = self.folder / "data"
        self._run(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8")
        self.options = " ".join([f"-h 127.0.0.1 -p {self.port} -k {self.folder}", *(f"-c {s}" for s in settings)])
        self._run(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.folder / "log"), "-w", "-t", "60",
                  "-o", self.options, "start")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if subprocess.run([str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def restart(self) -> None:
        """A clean restart (``pg_ctl restart -m fast``): every session is ended, the server is back at once."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w",
                  "-t", "60", "-m", "fast", "restart")

    def halt(self) -> None:
        """Stop the server (``pg_ctl stop -m fast``), keeping its files: it stays down until :meth:`resume`."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-w", "-t", "60", "-m", "fast", "stop")

    def resume(self) -> None:
        """Start again a server :meth:`halt` stopped, on the same port."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l", str(self.folder / "log"), "-w",
                  "-t", "60", "-o", self.options, "start")

    def stop(self) -> None:
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "stop")
        except subprocess.CalledProcessError:
            pass  # already stopped (a test that halted it and failed before resuming it)
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)


def rows_read(plan: dict[str, Any], table: str, *, filtered_too: bool = False) -> int:
    """Rows that the scans of ``table`` in an ``EXPLAIN (ANALYZE, FORMAT JSON)`` plan returned, times
    their loops (and, with ``filtered_too``, the rows they read and filtered out): what a query costs in
    rows, the same on every machine, where a timing would not be."""
    own = 0
    if plan.get("Relation Name") == table and plan["Node Type"].endswith("Scan"):
        own = (plan["Actual Rows"] + (plan.get("Rows Removed by Filter", 0) if filtered_too else 0)) \
            * plan["Actual Loops"]
    return own + sum(rows_read(child, table, filtered_too=filtered_too) for child in plan.get("Plans", []))


def indexes_used(plan: dict[str, Any], table: str) -> set[str]:
    """The indexes through which a plan reads ``table`` ("" for a sequential scan)."""
    def bitmaps(node: dict[str, Any]) -> set[str]:
        own = {node["Index Name"]} if node["Node Type"] == "Bitmap Index Scan" else set()
        return own.union(*(bitmaps(child) for child in node.get("Plans", [])))

    own: set[str] = set()
    if plan.get("Relation Name") == table and plan["Node Type"].endswith("Scan"):
        own = bitmaps(plan) if plan["Node Type"] == "Bitmap Heap Scan" else {plan.get("Index Name", "")}
    return own.union(*(indexes_used(child, table) for child in plan.get("Plans", [])
                       if plan["Node Type"] != "Bitmap Heap Scan"))


def _literal(value: Any) -> str:
    """A test's parameter written into SQL (numbers and text only)."""
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


def analyzed(conn: Connection, statement: str, parameters: Any, *, generic: bool = False) -> dict[str, Any]:
    """The executed plan of a statement (run for real: call it in a transaction you roll back).

    :param generic: the plan made without the parameters' values, as the driver's prepared
        statements get after a few executions (the statement is PREPAREd, then EXECUTEd).
    """
    if not generic:
        return dict(conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
                    .scalar_one()[0]["Plan"])
    names: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    conn.exec_driver_sql("PREPARE probe AS " + re.sub(r"%\((\w+)\)s", numbered, statement).replace("%%", "%"))
    try:
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        values = ", ".join(_literal(parameters[name]) for name in names)
        return dict(conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE probe({values})")
                    .scalar_one()[0]["Plan"])
    finally:
        conn.exec_driver_sql("RESET plan_cache_mode")
        conn.exec_driver_sql("DEALLOCATE probe")
