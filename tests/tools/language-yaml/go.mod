// A wrapper module that builds the YAML language host (pulumi-language-yaml)
// from the Go module proxy, pinned to the same pulumi pkg/sdk version as the CLI
// (pulumi-yaml v1.38.1 itself requires pkg/v3 and sdk/v3 v3.255.0). The upstream
// module has no replace lines; pkg/v3's clipboard replace is copied as in pulumi-cli.
module procella-edge/tests/tools/language-yaml

go 1.25.11

require (
	github.com/pulumi/pulumi-yaml v1.38.1
	github.com/pulumi/pulumi/pkg/v3 v3.255.0
	github.com/pulumi/pulumi/sdk/v3 v3.255.0
)

replace github.com/atotto/clipboard => github.com/tgummerer/clipboard v0.0.0-20241001131231-d02d263e614e
