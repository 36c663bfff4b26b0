//go:build !race

package main

// raceEnabled says the tests run with the race detector; TestMain then
// builds relay-host and the plugins it starts with -race too.
const raceEnabled = false
