#!/usr/bin/env bash
# Compares release-profile settings: size of the binary and its zip, build time, cold start.
# Not part of `make bench` (each variant is a clean release build: 6-15 minutes on 2 cores);
# run it by hand when the profile is in question:
#   tools/bench/profiles.sh [variant ...]      (default: every variant below)
# Each variant builds into its own target directory (target/profiles/<variant>) with the settings
# passed as CARGO_PROFILE_RELEASE_* (Cargo.toml is not touched); "current" is target/release as
# Cargo.toml configures it. The cold starts of all variants are measured in one interleaved run.
# Writes target/bench/profiles.json, which the next `make bench` copies into BENCHMARKS.md with
# the date it was measured.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$here"
venv="${VENV:-$here/.venv}"
py="$venv/bin/python"
export PATH="$venv/bin:$PATH"
out="$here/target/bench/profiles.json"
runs="${PROFILE_COLD_RUNS:-21}"
mkdir -p "$here/target/bench" "$here/target/profiles"

# name|opt-level|lto|codegen-units  (strip = true, panic = "unwind" for all: lambda_runtime
# catches handler panics)
variants_all=(
  "current|||"
  "o3-thin|3|thin|4"
  "s-fat-cgu1|s|fat|1"
  "z-fat-cgu1|z|fat|1"
  "o3-fat-cgu1|3|fat|1"
)
want=("$@")

child=""
cleanup() { [ -n "$child" ] && kill -TERM -- "-$child" 2>/dev/null || true; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# One cargo build at a time on this machine: wait (bounded) while another one runs.
wait_for_other_builds() {
  local i
  for i in $(seq 1 360); do
    pgrep -x cargo >/dev/null || pgrep -x rustc >/dev/null || return 0
    [ "$i" = 1 ] && echo "== profiles: waiting for another cargo build to finish" >&2
    sleep 5
  done
  echo "== profiles: another cargo build still runs after 30 min; giving up" >&2
  exit 1
}

results="$here/target/bench/profiles.jsonl"
bins="$here/target/bench/profile-bin"
mkdir -p "$bins"
: >"$results"
compare=()
for v in "${variants_all[@]}"; do
  IFS='|' read -r name opt lto cgu <<<"$v"
  if [ "${#want[@]}" -gt 0 ] && [[ ! " ${want[*]} " == *" $name "* ]]; then continue; fi
  wait_for_other_builds
  if [ "$name" = current ]; then
    target_dir="$here/target"
    settings="$(awk '/^\[profile.release\]/{f=1;next} /^\[/{f=0} f && NF {printf "%s%s", sep, $0; sep="; "}' Cargo.toml)"
    envs=()
  else
    target_dir="$here/target/profiles/$name"
    settings="opt-level = \"$opt\"; lto = \"$lto\"; codegen-units = $cgu; strip = true; panic = \"unwind\""
    envs=(CARGO_PROFILE_RELEASE_OPT_LEVEL="$opt" CARGO_PROFILE_RELEASE_LTO="$lto"
          CARGO_PROFILE_RELEASE_CODEGEN_UNITS="$cgu" CARGO_PROFILE_RELEASE_STRIP=true
          CARGO_PROFILE_RELEASE_PANIC=unwind)
  fi
  echo "== profiles: $name ($settings)" >&2
  t=$(date +%s)
  setsid env "${envs[@]}" CARGO_TARGET_DIR="$target_dir" cargo build --release --bin session-revoker </dev/null &
  child=$!
  wait "$child"
  child=""
  build_s=$(( $(date +%s) - t ))
  # A copy: `cargo bench` rewrites target/release/session-revoker with a bench-profile build.
  cp -f "$target_dir/release/session-revoker" "$bins/$name"
  zip="$here/target/bench/profile-$name.zip"
  "$py" tools/bench/zip_bootstrap.py "$bins/$name" "$zip" >/dev/null
  # A build that compiled nothing (under a minute) says nothing about build time, nor does the
  # incremental build of "current" in target/.
  [ "$name" = current ] && build_s=0
  "$py" - "$name" "$settings" "$build_s" "$bins/$name" "$zip" >>"$results" <<'PY'
import json, os, sys
name, settings, build_s, binary, zip_path = sys.argv[1:]
print(json.dumps({"key": name, "name": f"{name}: {settings}",
                  "build_seconds": int(build_s) if int(build_s) >= 60 else None,
                  "binary_bytes": os.path.getsize(binary), "zip_bytes": os.path.getsize(zip_path)}))
PY
  compare+=(--compare "$name=$bins/$name")
done
# Cold starts of all variants in one run, interleaved, so that load on the machine hits all alike.
tools/with-moto.sh "$py" tools/bench/driver.py --only compare "${compare[@]}" \
  --cold-runs "$runs" --warmup 2 --out "$here/target/bench/profile-cold.json" \
  --log-dir "$here/target/bench/logs"
"$py" - "$results" "$here/target/bench/profile-cold.json" "$out" "$runs" <<'PY'
import datetime, json, sys
src, cold_path, out, runs = sys.argv[1:]
cold = json.load(open(cold_path))["compare"]
variants = [json.loads(l) for l in open(src) if l.strip()]
previous = {}
try:
    previous = {v["key"]: v for v in json.load(open(out))["variants"] if "key" in v}
except (OSError, ValueError, KeyError):
    pass
for v in variants:
    c = cold[v["key"]]
    v["cold_median_ms"], v["cold_p90_ms"] = c["median"], c["p90"]
    # Keep a build time measured by an earlier run when this one found the variant built.
    if v["build_seconds"] is None and previous.get(v["key"], {}).get("build_seconds"):
        v["build_seconds"] = previous[v["key"]]["build_seconds"]
        v["build_measured_earlier"] = True
json.dump({"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "runs": int(runs), "variants": variants}, open(out, "w"), indent=1)
print(f"wrote {out}")
PY
