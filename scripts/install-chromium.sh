#!/usr/bin/env bash
# Install Debian's Chromium and ChromeDriver for the browser tests (Playwright launches
# /usr/bin/chromium; it never downloads a browser of its own).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "install-chromium: installing Debian packages chromium and chromium-driver..." >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >&2
