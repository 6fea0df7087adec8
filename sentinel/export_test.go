package sentinel

import "github.com/ninelives-go/ninelives/interceptor/warmup"

// BlueGreenStage, BlueGreenWarmupDone and BlueGreenReport give the tests
// the blue/green strategy's stage, the end of its warm-up and its report.
func BlueGreenStage(s Strategy) string { return s.(*blueGreen).currentStage() }

func BlueGreenWarmupDone(s Strategy) <-chan struct{} { return s.(*blueGreen).WarmupDone() }

func BlueGreenReport(s Strategy) *warmup.Report { return s.(*blueGreen).warmupReport() }
