# Pinned tool versions, in one place. Sourced by the other scripts.
NODE_MAJOR=22
WORKER_BUILD_VERSION=0.8.7
# The pulumi CLIs the end-to-end tests drive: the newest release (what users run; the default) and the oldest
# supported one. Each is built from the Go module proxy through its own wrapper in tests/tools/pulumi-cli/<version>.
PULUMI_VERSION=v3.274.1
PULUMI_OLDEST_VERSION=v3.255.0
