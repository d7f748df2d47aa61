// A wrapper module that builds the real pulumi CLI from the Go module proxy.
// It requires pkg/v3 and sdk/v3 at one version and copies pkg/v3's replace lines
// (its own `replace sdk/v3 => ../sdk` becomes the same released version).
module procella-edge/tests/tools/pulumi-cli

go 1.25.11

require (
	github.com/pulumi/pulumi/pkg/v3 v3.255.0
	github.com/pulumi/pulumi/sdk/v3 v3.255.0
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
