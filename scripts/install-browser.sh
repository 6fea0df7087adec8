#!/usr/bin/env bash
# Installs Debian's chromium, which the status page's browser test drives
# headless. Does nothing when /usr/bin/chromium is already there, so make
# test and CI can run it every time. Needs root (or sudo) only to install.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
	echo "install-browser: $CHROMIUM is present"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-browser: $CHROMIUM is missing and this is not a Debian-like system (no apt-get); install Chromium so that $CHROMIUM exists" >&2
	exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "install-browser: $CHROMIUM is missing; run this script as root to install Debian's chromium" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-browser: installing Debian's chromium"
# The package lists may be missing or stale on a fresh machine: update
# them first, then install.
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q chromium

if [ ! -x "$CHROMIUM" ]; then
	echo "install-browser: apt-get installed chromium but $CHROMIUM is still missing" >&2
	exit 1
fi
echo "install-browser: $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM installed")"
