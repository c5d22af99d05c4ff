#!/usr/bin/env bash
# Installs what the sending benchmark compares against: Postfix's smtp-sink (Debian) and the
# mailmerge CLI (PyPI, in its own venv so that it never mixes with the project's packages).
set -euo pipefail
cd "$(dirname "$0")"
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
if [ ! -x /usr/sbin/smtp-sink ]; then
  echo "Installing Debian's postfix (for smtp-sink)…"
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq postfix >/dev/null
fi
if [ ! -x .venv-mailmerge/bin/mailmerge ]; then
  echo "Installing mailmerge into bench/.venv-mailmerge…"
  python3 -m venv .venv-mailmerge
  .venv-mailmerge/bin/pip install --quiet "mailmerge>=2.2"
fi
