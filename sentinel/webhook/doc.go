// Package webhook sends a sentinel's alerts to an HTTP endpoint: each alert
// is POSTed as JSON, an object with "source" ("ninelives"), "text" (one line
// for chat tools, as Slack's incoming webhooks take it) and "event" (the
// sentinel.Event).
//
//	hook, err := webhook.New(webhook.Config{URL: "https://hooks.example.com/T0/B0/secret"})
//	if err != nil {
//		return err
//	}
//	s, err := sentinel.New(split, metrics, canary, sentinel.WithAlerters(hook))
//
// An attempt has a timeout; network errors, 429 and 5xx answers are retried
// with exponential backoff until the attempts run out or the alert's context
// ends (the sentinel bounds it, sentinel.WithAlertTimeout). A webhook URL
// often carries its secret: errors and logs show only its scheme, host and
// path, never its user, password, query or fragment.
package webhook
