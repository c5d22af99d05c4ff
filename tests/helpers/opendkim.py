"""OpenDKIM's verifier (``opendkim-testmsg``, Debian's opendkim-tools) run offline.

libopendkim looks keys up with the C library's resolver, which asks the name servers of
/etc/resolv.conf on port 53 and cannot be pointed anywhere else. So the check runs in a
namespace of its own (``unshare``: a user, network and mount namespace, no privilege needed):
a loopback interface of its own where the tests' DNS server (tests/dns_server.py) answers on
127.0.0.1:53, and a resolv.conf naming it mounted over /etc/resolv.conf for that process only.
Nothing in it can reach the network, and nothing outside it changes.

``python -m tests.helpers.opendkim FOLDER`` is the part that runs inside: it serves
``FOLDER/records.json`` and verifies every ``FOLDER/*.eml``, writing ``NAME.eml.result``
(the exit status, then what opendkim-testmsg said).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.dns_server import DnsServer, Records

OPENDKIM_TESTMSG = shutil.which("opendkim-testmsg") or (
    "/usr/sbin/opendkim-testmsg" if Path("/usr/sbin/opendkim-testmsg").exists() else None)
REPO = Path(__file__).resolve().parents[2]


def verify(messages: list[bytes], records: Records) -> list[tuple[int, str]]:
    """``(exit status, message)`` of ``opendkim-testmsg`` for each message: 0 and ``""`` when it verifies.

    :raises RuntimeError: when the namespace cannot be made (unshare refused).
    """
    assert OPENDKIM_TESTMSG is not None
    with tempfile.TemporaryDirectory(prefix="opendkim-") as tmp:
        folder = Path(tmp)
        (folder / "records.json").write_text(json.dumps(records), encoding="utf-8")
        (folder / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:2 attempts:1\n", encoding="ascii")
        for n, message in enumerate(messages):
            (folder / f"{n:03}.eml").write_bytes(message)
        inside = (f"ip link set lo up && mount --bind {folder}/resolv.conf /etc/resolv.conf && "
                  f"exec {sys.executable} -m tests.helpers.opendkim {folder}")
        done = subprocess.run(["unshare", "--user", "--map-root-user", "--net", "--mount", "sh", "-c", inside],
                              cwd=REPO, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"the offline OpenDKIM check could not run (rc {done.returncode}): {done.stderr}")
        results = []
        for n in range(len(messages)):
            status, _, said = (folder / f"{n:03}.eml.result").read_text(encoding="utf-8").partition("\n")
            results.append((int(status), said.strip()))
        return results


def _inside(folder: Path) -> None:
    records: Records = {name: [tuple(row) for row in rows]  # type: ignore[misc]
                        for name, rows in json.loads((folder / "records.json").read_text(encoding="utf-8")).items()}
    assert OPENDKIM_TESTMSG is not None
    with DnsServer(records, port=53):
        for path in sorted(folder.glob("*.eml")):
            done = subprocess.run([OPENDKIM_TESTMSG], input=path.read_bytes(), capture_output=True, timeout=60)
            said = (done.stdout + done.stderr).decode(errors="replace")
            path.with_name(path.name + ".result").write_text(f"{done.returncode}\n{said}", encoding="utf-8")


if __name__ == "__main__":
    _inside(Path(sys.argv[1]))
