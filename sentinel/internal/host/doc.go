// Package host holds what a strategy does beyond deciding, shared by the
// blue/green strategy and the scripts' host: a warm-up on a goroutine of
// its own and the switch of the shadow copies.
package host
