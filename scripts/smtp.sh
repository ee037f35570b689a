#!/usr/bin/env bash
# Makes aiosmtpd available for the mail tests (server/tests/it/accounts.rs): a real SMTP
# server from PyPI, which each test starts on a loopback port of its own
# (ferry-testkit's SmtpSink) and whose mailbox the test reads.
#
#   source scripts/smtp.sh && ensure_aiosmtpd
#
# Installs `aiosmtpd` with pip (for this user) when Python cannot import it, and Python's
# pip from Debian's packages when even pip is missing.

# shellcheck source=scripts/pip.sh
source "$(dirname "${BASH_SOURCE[0]}")/pip.sh"

_ferry_smtp_say() { printf 'smtp: %s\n' "$*" >&2; }

ensure_aiosmtpd() {
    if python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
        _ferry_smtp_say "aiosmtpd is installed"
        return 0
    fi
    _ferry_smtp_say "installing aiosmtpd from PyPI (an SMTP server the mail tests send to)"
    pip_install_user 'aiosmtpd>=1.4,<2' || return 1
    python3 -c 'import aiosmtpd' >/dev/null 2>&1 || {
        _ferry_smtp_say "error: Python still cannot import aiosmtpd"
        return 1
    }
}
