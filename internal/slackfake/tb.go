package slackfake

// TB is the part of testing.TB the fake's test helpers use. Naming it here
// instead of importing testing keeps the testing package out of binaries
// that embed the fake (jitbot demo); *testing.T, *testing.B and
// *testing.F satisfy it.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}
