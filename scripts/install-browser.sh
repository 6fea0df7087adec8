#!/usr/bin/env bash
# Installs Debian's chromium, which the status page's browser test drives
# headless, when /usr/bin/chromium is missing.
exec bash "$(dirname "$0")/install-deb.sh" /usr/bin/chromium chromium
