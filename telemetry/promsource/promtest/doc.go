// Package promtest runs a real Prometheus server for tests and demos: the
// binary of Debian's prometheus package (scripts/install-prometheus.sh
// installs it), on a free loopback port, with a configuration and a storage
// directory of its own, scraping the given targets.
//
//	srv, err := promtest.Start(t.TempDir(), promtest.Config{
//		Targets:        []string{metricsAddr}, // host:port serving /metrics
//		ScrapeInterval: 250 * time.Millisecond,
//	})
//	defer srv.Stop()
//	src, err := promsource.NewSource(srv.URL())
//
// It never uses a Prometheus service the package may have set up: each
// Server is a process of its own, stopped by Stop.
package promtest
