#!/usr/bin/env bash
# Lints the CloudFormation templates: cfn-lint (schema and best practice) and checkov
# (security), both from the .venv-lint virtualenv (tools/requirements-lint.txt).
# Offline: checkov downloads nothing and talks to no platform API.
# Exits non-zero on any finding or tool failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="${LINT_VENV:-$root/.venv-lint}"
cfn_lint="$venv/bin/cfn-lint"
checkov="$venv/bin/checkov"
templates=(template.yaml member-role.yaml)

for tool in "$cfn_lint" "$checkov"; do
    if [[ ! -x "$tool" ]]; then
        echo "check-templates: $tool not found; create the venv first:" >&2
        echo "  python3 -m venv .venv-lint && .venv-lint/bin/pip install -r tools/requirements-lint.txt" >&2
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

echo "check-templates: OK"
