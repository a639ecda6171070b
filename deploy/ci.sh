#!/usr/bin/env bash
# CI for deploy/: lint the template, then every Python test, including the emulator parity test
# and deploy/k8s (hadolint on the Dockerfile, strict Kubernetes 1.37 validation of the manifests)
# (build the binary first: cargo build, or point IRIS_CLI_BIN at it).
#   pip install -r deploy/requirements-test.txt && deploy/ci.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cfn-lint deploy/template.yaml deploy/template-http-api.yaml deploy/template-function-url.yaml
python3 -m pytest deploy/tests deploy/k8s -q -p no:cacheprovider "$@"
