package script

// Unguarded runs a script as the plain interpreter does, without the
// guard, for the benchmarks that measure what the guard costs.
var Unguarded Option = optionFunc(func(c *options) { c.unguarded = true })
