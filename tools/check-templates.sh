#!/usr/bin/env bash
# Lints the CloudFormation templates: cfn-lint (schema and best practice) and checkov
# (security), both from the .venv-lint virtualenv (tools/requirements-lint.txt), and
# `sam validate --lint` from .venv-sam (tools/requirements-sam.txt; its pins fight checkov's).
# Offline: checkov downloads nothing and talks to no platform API; `sam validate --lint` was
# run here with the network unshared (`unshare -rn`) and passed, in about 3 s per template.
# Exits non-zero on any finding or tool failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="${LINT_VENV:-$root/.venv-lint}"
cfn_lint="$venv/bin/cfn-lint"
checkov="$venv/bin/checkov"
sam="${SAM_VENV:-$root/.venv-sam}/bin/sam"
templates=(template.yaml member-role.yaml region-forwarder.yaml)

for tool in "$cfn_lint" "$checkov" "$sam"; do
    if [[ ! -x "$tool" ]]; then
        echo "check-templates: $tool not found; create the venv first:" >&2
        echo "  make venv   (or: python3 -m venv .venv-lint && .venv-lint/bin/pip install -r tools/requirements-lint.txt;" >&2
        echo "   python3 -m venv .venv-sam && .venv-sam/bin/pip install -r tools/requirements-sam.txt)" >&2
        exit 2
    fi
done

for t in "${templates[@]}"; do
    [[ -f "$t" ]] || { echo "check-templates: $t is missing" >&2; exit 2; }
done

echo "== cfn-lint ${templates[*]}"
"$cfn_lint" --format parseable -- "${templates[@]}"

echo "== checkov ${templates[*]}"
# Offline: --skip-download and BC_SKIP_MAPPING stop guideline/policy downloads from the
# platform, CKV_SKIP_PACKAGE_UPDATE_CHECK stops the PyPI version check; no API key is given,
# so nothing is uploaded.
export BC_SKIP_MAPPING=TRUE
export CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE
file_args=()
for t in "${templates[@]}"; do file_args+=(--file "$t"); done
"$checkov" \
    --framework cloudformation \
    --skip-download \
    --quiet \
    --compact \
    "${file_args[@]}"

echo "== sam validate --lint ${templates[*]}"
# No telemetry (SAM_CLI_TELEMETRY=0); --lint runs cfn-lint locally and calls no AWS API. A region is
# set so that the SDK it loads never looks for one.
for t in "${templates[@]}"; do
    SAM_CLI_TELEMETRY=0 AWS_REGION="${AWS_REGION:-us-east-1}" "$sam" validate --lint --template-file "$t"
done

echo "check-templates: OK"
