// Package promsource reads the ninelives figures that Prometheus scrapes from
// client replicas, as a telemetry.MetricSource for the sentinel: for teams
// that already run Prometheus and would rather judge a rollout on the figures
// of every replica it scrapes than on one process's own.
//
// # Usage
//
// Every client replica serves its telemetry at /metrics (package
// promexport), and Prometheus scrapes them. The sentinel reads
// them back through Prometheus' HTTP API:
//
//	src, err := promsource.NewSource("http://prometheus:9090",
//		promsource.WithSelector(`job="orders-client"`), // this service's clients only
//		promsource.WithScrapeTimeout(10*time.Second),  // the job's scrape_timeout
//	)
//	defer src.Close()
//	s, err := sentinel.New(split, src, canary, sentinel.WithVersions("stable", "canary"))
//
// Each Collect returns a window like the telemetry Source's: per version and
// role the calls, errors (by the same default codes,
// telemetry.DefaultErrorCodes; see WithErrorCodes), status codes and latency
// histogram; per version the shadow comparisons, fallbacks and unanswered
// primary calls (telemetry.VersionStats.Unanswered); in Overflow
// the calls of rpc_method "other" (past telemetry's method cap); summed over
// every series the selector lets through (every replica, method and job). It
// reads the names promexport exports: ninelives_rpc_calls_total,
// ninelives_rpc_duration_seconds_bucket and _sum,
// ninelives_shadow_comparisons_total, ninelives_split_fallbacks_total and
// ninelives_rpc_unanswered_total,
// with their labels ninelives_version, ninelives_role,
// rpc_grpc_status_code and ninelives_shadow_result.
//
// # Counting
//
// A window counts samples, not calls: the first Collect covers from
// NewSource to now, each later one from the previous Collect to now, and a
// call is counted in the window that reads the first scrape after it. With a
// 15 s scrape interval and a 1 s tick, most windows are empty and one in
// fifteen holds fifteen seconds of calls; the judge adds looks up, so this
// delays a decision by up to a scrape interval but does not change it. Each
// Collect is a range query, so a sentinel on this source gains nothing from
// ticking faster than Prometheus scrapes: keep sentinel.WithInterval at a
// second (the default) or more.
// Prometheus stamps a scrape's samples with the time the scrape began, so a
// scrape in flight when the source is made may carry calls made just after
// NewSource under an earlier time: those are taken as the starting values,
// not counted.
//
// Prometheus' increase() and rate() extrapolate to the ends of their range,
// and so give fractional, estimated counts. The source does not use them. It
// reads the raw samples of every series since the previous Collect (one range
// query, plus an instant query at NewSource's time on the first Collect for
// the values to start from) and, series by series, adds up the differences
// between each sample and the one before it. The counts are thus exact
// differences of the scraped counters: the calls, errors, codes, comparisons
// fallbacks and unanswered calls of a window equal the telemetry Source's for
// the same scrapes, and no call is counted twice or lost (restarts aside,
// below), as the tests check against a real Prometheus server. Since a
// scrape's samples carry the time the scrape started but are stored when it
// ends, each Collect reads the last scrape timeout (WithScrapeTimeout) again
// and counts only the samples it has not counted yet.
//
// A counter that goes down is a replica that restarted: its new value is all
// increase, as in Prometheus' own functions. What the replica counted between
// its last scrape and its restart is lost, and a replica that restarts and
// passes its old value before its first scrape is undercounted; both are
// inherent to counters scraped from outside. A series first seen after
// NewSource counts from zero. A failed Collect changes nothing, so the next
// window covers its time too.
//
// # Latency
//
// Prometheus holds ninelives.rpc.duration in the explicit buckets the
// exporter advises (telemetry.DurationBuckets, unless changed with
// telemetry.WithDurationBuckets), while a window holds base-2 exponential
// histograms. The source maps every explicit bucket (lo, hi] whole onto the
// exponential bucket at scale 4 (4.4 % wide) that holds its geometric middle
// √(lo·hi); the lowest bucket (0, b] is taken as (b/2, b], the highest
// (b, +Inf] as (b, 2b], and a bucket at or below zero holds zeros. Each
// series is mapped with its own bounds, so replicas with different buckets
// add up correctly.
//
// The count and the sum (hence the mean) of a histogram are exact. The
// shape is the explicit buckets': a quantile lies in the exponential bucket
// of the middle of the explicit bucket that holds the true quantile, so its
// relative error is at most √(hi/lo)·2^(1/16) − 1 for that bucket: 19 % in
// (10 ms, 13 ms], 17 % in (20 ms, 25 ms], 48 % in (1 ms, 2 ms], 65 % in
// (2 s, 5 s]; the telemetry Source's own histograms are within 4.4 %. Min and
// Max are the outer bounds of the explicit buckets that hold values, since
// Prometheus keeps no extremes. The judge compares the candidate's and the
// baseline's histograms built the same way, so a candidate as fast as the
// baseline still looks as fast, while a slowdown smaller than an explicit
// bucket is harder to see; the errors test is unaffected.
//
// # Failures
//
// Each query has a timeout (WithTimeout) that bounds both the HTTP round
// trip and Prometheus' evaluation. A query that fails returns a *QueryError
// naming the Prometheus URL, the PromQL, the time and Prometheus' own error
// type and message; a series whose labels cannot be read (a status code that
// is not a number, a bucket bound that is not a number) fails the Collect
// with the series named. A bad URL or option is an error of kind
// ErrBadConfig that names it. The sentinel holds the rollout and alerts on either.
//
// Tests run a real Prometheus: Debian's prometheus package, which
// scripts/install-prometheus.sh installs (make test runs it), started on
// loopback by the promtest package.
package promsource
