#!/usr/bin/env bash
# Debian's Chromium for the browser tests (Playwright drives it by path; no browser download).
# Installs it once if /usr/bin/chromium is missing; prints the version.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then echo "chromium is missing: install Debian's 'chromium' package (as root: apt-get install chromium)" >&2; exit 1; fi
  echo "installing Debian's chromium (one time)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
chromium --version 2>/dev/null | grep -v unexpected || true
