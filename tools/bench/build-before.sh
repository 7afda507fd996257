#!/usr/bin/env bash
# Builds the release binary of an earlier commit into target/bench/before/ for the before/after
# table of `make bench` (BENCHMARKS.md). Usage: tools/bench/build-before.sh [commit] (default:
# d4f6b80, the last commit before issue 16's compiled-in trust store).
#
# The commit's tree is exported with `git archive` (no worktree, nothing in .git changes) to
# target/bench/before-src and built in its own target directory (BEFORE_TARGET_DIR, default
# target/bench/before-target): a full release build, 6-16 minutes on these machines. Its own
# directory, because both builds write target/release/session-revoker: sharing target/ would let
# the next `make bench` measure whichever was linked last.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
commit="${1:-d4f6b80}"
src="$here/target/bench/before-src"
out="$here/target/bench/before"
rm -rf "$src"
mkdir -p "$src" "$out"
git -C "$here" archive "$commit" | tar -x -C "$src"
target_dir="${BEFORE_TARGET_DIR:-$here/target/bench/before-target}"
(cd "$src" && CARGO_TARGET_DIR="$target_dir" cargo build --release --bin session-revoker)
cp -f "$target_dir/release/session-revoker" "$out/session-revoker"
git -C "$here" rev-parse --short "$commit" >"$out/commit"
echo "built $(cat "$out/commit") into $out/session-revoker" >&2
