//go:build race

package django_test

// race is whether the race detector is on: it slows the import tenfold,
// so the scale test imports fewer users.
const race = true
