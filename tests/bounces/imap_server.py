"""A throwaway Dovecot IMAP server on 127.0.0.1, over TLS with a certificate made for the test.

Dovecot comes from Debian's dovecot-imapd (``make system-packages``). Run as root, its login
and mail processes take Dovecot's own unprivileged users, as it requires; otherwise everything
runs as the current user.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from ipaddress import IPv4Address
from pathlib import Path
from typing import Iterator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.sink import free_port

DOVECOT = Path("/usr/sbin/dovecot")
USER, PASSWORD = "bounces", "imap-pw-7Hq2ZxLw"


@dataclass
class Imap:
    port: int
    cafile: Path
    offers_move: bool


def _certificate(folder: Path) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    # OpenSSL checks the dates against the machine's real clock, which `--clock-shift` does not move:
    # a certificate valid for this century holds whatever the clock says.
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(datetime(2000, 1, 1, tzinfo=timezone.utc))
            .not_valid_after(datetime(2099, 12, 31, tzinfo=timezone.utc))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return folder / "cert.pem"


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text(errors='replace') if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("dovecot did not listen within 120 s")


@pytest.fixture(params=["MOVE", "COPY"])
def imap_server(request: pytest.FixtureRequest) -> Iterator[Imap]:
    """Dovecot as it is (it offers MOVE), and told to offer only IMAP4rev1 and UIDPLUS (the COPY path)."""
    if not DOVECOT.exists():
        pytest.skip("Dovecot is not installed (make system-packages installs dovecot-imapd)")
    # Not under pytest's tmp_path, whose folders only their owner may enter: Dovecot's auth and mail
    # processes (other users when run as root) must read the password file and write the mail home.
    folder = Path(tempfile.mkdtemp(prefix="newsletter-dovecot-"))
    folder.chmod(0o755)
    try:
        yield from _serve(folder, "" if request.param == "MOVE" else "IMAP4rev1 LITERAL+ UIDPLUS")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _serve(folder: Path, capabilities: str) -> Iterator[Imap]:
    for sub in ("run", "state", "home"):
        (folder / sub).mkdir(parents=True)
    cafile = _certificate(folder)
    (folder / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
    if os.geteuid() == 0:  # Dovecot refuses root for its login and mail processes
        login, internal, group = "dovenull", "dovecot", "dovecot"
        mail_uid, mail_gid = "dovecot", "dovecot"
        shutil.chown(folder / "home", pwd.getpwnam(mail_uid).pw_uid, grp.getgrnam(mail_gid).gr_gid)
    else:
        login = internal = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        mail_uid, mail_gid = str(os.geteuid()), str(os.getegid())
    port = free_port()
    log = folder / "dovecot.log"
    (folder / "dovecot.conf").write_text(f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {log}
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{folder}/cert.pem
ssl_key = <{folder}/key.pem
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 0
{f"imap_capability = {capabilities}" if capabilities else ""}
mail_location = maildir:{folder}/home/%u/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_uid} gid={mail_gid} home={folder}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
""")
    process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(folder / "dovecot.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port, process, log)
        yield Imap(port, cafile, not capabilities)
    finally:
        process.terminate()
        process.wait(timeout=15)
