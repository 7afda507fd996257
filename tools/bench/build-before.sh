#!/usr/bin/env bash
# Builds the "before" release binary for the before/after table of `make bench` (BENCHMARKS.md)
# into target/bench/before/.
#
#   tools/bench/build-before.sh            HEAD without issue 16's change: src/lambda.rs,
#                                          src/accounts.rs and src/main.rs as they were at d4f6b80
#                                          (the trust store, the environment's region and
#                                          credentials, the clients built on first use), Cargo.toml
#                                          without the two crates it added and with tracing-
#                                          subscriber's "ansi" back, everything else as committed;
#                                          so the table shows that change alone
#   tools/bench/build-before.sh COMMIT     that commit as it was
#
# The tree is exported with `git archive` (no worktree, nothing in .git changes) to
# target/bench/before-src and built in its own target directory (BEFORE_TARGET_DIR, default
# target/bench/before-target): a full release build, 6-16 minutes on these machines. Its own
# directory, because cargo keys a workspace crate's artefacts by its path inside the workspace, not
# by where the workspace is: built in target/, the two trees would reuse each other's artefacts.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
issue16_base=d4f6b80
issue16_rust=(src/lambda.rs src/accounts.rs src/main.rs)
src="$here/target/bench/before-src"
out="$here/target/bench/before"
rm -rf "$src"
mkdir -p "$src" "$out"
if [ $# -ge 1 ]; then
  git -C "$here" archive "$1" | tar -x -C "$src"
  label="$(git -C "$here" rev-parse --short "$1")"
else
  git -C "$here" archive HEAD | tar -x -C "$src"
  for f in "${issue16_rust[@]}"; do
    git -C "$here" show "$issue16_base:$f" >"$src/$f"
  done
  # Cargo.toml as committed, less what issue 16 added to [dependencies] (the two smithy crates)
  # and with tracing-subscriber's "ansi" feature back.
  python3 - "$src/Cargo.toml" <<'PY2'
import re, sys
path = sys.argv[1]
text = open(path).read()
deps, rest = text.split("[dev-dependencies]", 1)
deps = re.sub(r'(?m)^(# .*\n)*aws-smithy-(http-client|runtime-api) = \{ version = "1", default-features = false.*\n', "", deps)
deps = re.sub(r'(?m)^# No "ansi".*\n', "", deps)
deps = deps.replace('features = ["fmt", "json", "env-filter"]', 'features = ["fmt", "json", "env-filter", "ansi"]')
open(path, "w").write(deps + "[dev-dependencies]" + rest)
PY2
  rm -rf "$src/certs" "$src/tests/tls_roots.rs"
  label="$(git -C "$here" rev-parse --short HEAD) without issue 16 (${issue16_rust[*]} as of $issue16_base, Cargo.toml without its two dependencies)"
fi
target_dir="${BEFORE_TARGET_DIR:-$here/target/bench/before-target}"
(cd "$src" && CARGO_TARGET_DIR="$target_dir" cargo build --release --bin session-revoker)
cp -f "$target_dir/release/session-revoker" "$out/session-revoker"
printf '%s\n' "$label" >"$out/commit"
echo "built $label into $out/session-revoker" >&2
