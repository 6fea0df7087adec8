#!/usr/bin/env bash
# Installs Debian's prometheus, which the Prometheus metric source's tests
# start on loopback with a configuration and storage of their own. Does
# nothing when /usr/bin/prometheus is already there, so make test and CI can
# run it every time. Needs root (or sudo) only to install.
#
# The package may also enable and start a system service; the tests never use
# it (they run their own server on a free port), and this script leaves the
# service as the package set it up.
set -euo pipefail

PROMETHEUS=/usr/bin/prometheus

if [ -x "$PROMETHEUS" ]; then
	echo "install-prometheus: $PROMETHEUS is present"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-prometheus: $PROMETHEUS is missing and this is not a Debian-like system (no apt-get); install Prometheus 2.x so that $PROMETHEUS exists" >&2
	exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=(sudo)
	else
		echo "install-prometheus: $PROMETHEUS is missing; run this script as root to install Debian's prometheus" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-prometheus: installing Debian's prometheus"
# The package lists may be missing or stale on a fresh machine: update
# them first, then install the server alone (its recommended exporters are
# not needed).
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends prometheus

if [ ! -x "$PROMETHEUS" ]; then
	echo "install-prometheus: apt-get installed prometheus but $PROMETHEUS is still missing" >&2
	exit 1
fi
echo "install-prometheus: $("$PROMETHEUS" --version 2>&1 | head -n 1 || echo "$PROMETHEUS installed")"
