# Pinned tool versions, in one place. Sourced by the other scripts.
NODE_MAJOR=22
WORKER_BUILD_VERSION=0.8.7
# The newest pulumi release the Go module proxy serves whole here (v3.260+ answer 403).
PULUMI_VERSION=v3.255.0
