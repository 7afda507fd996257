#!/usr/bin/env bash
# Installs fakecloud (the IAM-enforcing AWS emulator the drills run against), pinned, once per machine:
#   cargo install fakecloud --version 0.51.0 --locked --debug
# into ${SESSION_REVOKER_CACHE:-$HOME/.cache/session-revoker}/fakecloud-0.51.0, outside the clone.
# A binary already there that reports the pinned version is reused and nothing is built.
# Concurrent runs (two `make test`s) serialize on a lock file; the second one reuses the first one's build.
# The binary's path is the last line on stdout; cargo's output goes to stderr.
#
# Why --debug: the emulator only has to be correct, not fast. A debug install builds much faster on a
# 2-core machine than a release one and answers well within the drills' needs (it starts in under half a
# second). Debug info is switched off (CARGO_PROFILE_DEV_DEBUG=0, overridable): with it the binary is
# 1.8 GB. Measured numbers: docs/emulators.md.
#
# fakecloud is AGPL-3.0; it runs as a separate process and is never linked into session-revoker.
set -euo pipefail

version=0.51.0
cache="${SESSION_REVOKER_CACHE:-$HOME/.cache/session-revoker}"
root="$cache/fakecloud-$version"
bin="$root/bin/fakecloud"

# `fakecloud --version` prints "fakecloud 0.51.0" (clap's #[command(version)], src/cli.rs).
good() { [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "fakecloud $version" ]; }

if good; then
  echo "$bin"
  exit 0
fi

command -v cargo >/dev/null || { echo "install-fakecloud: cargo not found (install Rust: https://rustup.rs)" >&2; exit 1; }
mkdir -p "$cache"
lock="$cache/fakecloud-$version.lock"
exec 9>"$lock"
if command -v flock >/dev/null; then
  if ! flock -n 9; then
    echo "install-fakecloud: another install holds $lock; waiting for it" >&2
    flock 9
  fi
else
  echo "install-fakecloud: flock not found; installing without a lock" >&2
fi

# Someone else may have finished the build while we waited.
if good; then
  echo "$bin"
  exit 0
fi

force=()
if [ -e "$bin" ]; then
  echo "install-fakecloud: $bin exists but does not report fakecloud $version; reinstalling" >&2
  force=(--force)
fi
echo "install-fakecloud: building fakecloud $version into $root (debug build, once per machine; this takes a while)" >&2
start=$SECONDS
CARGO_PROFILE_DEV_DEBUG="${CARGO_PROFILE_DEV_DEBUG:-0}" \
  cargo install fakecloud --version "$version" --locked --debug --root "$root" "${force[@]}" >&2
echo "install-fakecloud: built in $((SECONDS - start)) s" >&2

if ! good; then
  echo "install-fakecloud: $bin does not report fakecloud $version after the install" >&2
  exit 1
fi
echo "$bin"
