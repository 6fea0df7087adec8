#!/usr/bin/env bash
# install-deb.sh BINARY PACKAGE [APT-GET OPTIONS...]
#
# Installs a Debian package that some tests need, when BINARY is missing.
# Does nothing when BINARY is already there, so make test and CI can run it
# every time. Needs root (or sudo) only to install.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 BINARY PACKAGE [APT-GET OPTIONS...]" >&2
	exit 2
fi
BINARY=$1
PACKAGE=$2
shift 2
NAME="install-$PACKAGE"

if [ -x "$BINARY" ]; then
	echo "$NAME: $BINARY is present"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "$NAME: $BINARY is missing and this is not a Debian-like system (no apt-get); install $PACKAGE so that $BINARY exists" >&2
	exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "$NAME: $BINARY is missing; run this script as root to install Debian's $PACKAGE" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "$NAME: installing Debian's $PACKAGE"
# The package lists may be missing or stale on a fresh machine: update them
# first, then install.
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q "$@" "$PACKAGE"

if [ ! -x "$BINARY" ]; then
	echo "$NAME: apt-get installed $PACKAGE but $BINARY is still missing" >&2
	exit 1
fi
echo "$NAME: $("$BINARY" --version 2>&1 | head -n 1 || echo "$BINARY installed")"
