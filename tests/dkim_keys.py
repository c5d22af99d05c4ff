"""Test DKIM keys, made once per test session (an RSA key takes a moment to generate)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

_PKCS8 = serialization.PrivateFormat.PKCS8


@cache
def pem(kind: str) -> bytes:
    """An unencrypted PEM private key: ``rsa`` (2048), ``rsa1024``, ``ed25519`` or ``ec``."""
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "rsa1024":
        key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    elif kind == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(kind)
    return key.private_bytes(serialization.Encoding.PEM, _PKCS8, serialization.NoEncryption())


def encrypted_pem() -> bytes:
    key = serialization.load_pem_private_key(pem("ed25519"), password=None)
    return key.private_bytes(serialization.Encoding.PEM, _PKCS8,
                             serialization.BestAvailableEncryption(b"passphrase"))


def write_key(folder: Path, kind: str, name: str = "dkim.pem") -> Path:
    path = folder / name
    path.write_bytes(pem(kind))
    path.chmod(0o600)
    return path


def dkim_table(selector: str = "nl2026", domain: str = "example.org", key_file: str = "dkim.pem") -> str:
    return f'\n[dkim]\nselector = "{selector}"\ndomain = "{domain}"\nprivate_key_file = "{key_file}"\n'
