// Package dashboards holds the Grafana dashboard of ninelives,
// ninelives.json, for the metrics the telemetry package exports to
// Prometheus (see its README for the import steps). The package has no
// code: its test sends real traffic through the client stack into a real
// Prometheus and runs every panel's query against it.
package dashboards
