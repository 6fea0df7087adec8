#!/usr/bin/env bash
# Installs Debian's prometheus, which the Prometheus metric source's tests
# start on loopback with a configuration and storage of their own, when
# /usr/bin/prometheus is missing. Only the server: its recommended exporters
# are not needed. The package may also enable a system service; the tests
# never use it (they run their own server on a free port).
exec bash "$(dirname "$0")/install-deb.sh" /usr/bin/prometheus prometheus --no-install-recommends
