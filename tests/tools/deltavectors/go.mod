module procella.dev/tests/deltavectors

go 1.22

require (
	github.com/hexops/gotextdiff v1.0.3
	github.com/pgavlin/diff v0.0.0-20230503175810-113847418e2e
)

require github.com/pgavlin/text v0.0.0-20240821195002-b51d0990e284 // indirect
