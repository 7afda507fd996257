#!/usr/bin/env bash
# make bench: cold start, event to deny, peak memory, sizes, pure-path throughput -> BENCHMARKS.md.
#
# Steps (each bounded; every process started here is stopped on exit):
#   1. bench-only Python packages (tools/requirements-bench.txt) into the virtualenv
#   2. cargo build --release (reused when target/ is up to date)
#   3. tools/with-moto.sh + tools/bench/driver.py: cold starts (Rust, the boto3 baseline, Rust with
#      TLS_TRUST_STORE=platform, and the build before issue 16 when it is there), the first event
#      of a fresh process for each, event to deny through the recording proxy, peak RSS over 100
#      findings, and the organization-wide burst (tools/bench/burst.py)
#   4. sizes: release binary, x86_64 zip (the release binary zipped as `bootstrap`)
#   5. criterion: cargo bench --bench pure_path, a few seconds per benchmark
#   6. arm64 zip: cargo lambda build --release --arm64 --output-format zip
#   7. tools/bench/report.py writes BENCHMARKS.md from the measurements
# The builds of steps 5 and 6 get what is left of the time budget; one that does not finish in
# time is reported "not measured" with the reason, and the next run goes on where it stopped.
# With target/ built, the whole run takes about ten minutes (the measurements about eight).
#
# Environment: BENCH_BUDGET_SECONDS (default 900: fifteen minutes; every invocation that writes a
# deny now waits 2.5 s for its settle pass, and the two bursts take about 2.5 minutes),
# BENCH_ARM64=auto|never (default auto), BENCH_COLD_RUNS (21), BENCH_DENY_RUNS (5),
# BENCH_OUT (BENCHMARKS.md; the burst's plot goes beside it as BENCHMARKS-burst.png),
# BENCH_BURST_CONCURRENCY (default: template.yaml's ReservedConcurrency), BENCH_BEFORE (the release binary to compare with; default
# target/bench/before/session-revoker, which `tools/bench/build-before.sh <commit>` builds; the
# comparison is left out when it is missing).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
venv="${VENV:-$here/.venv}"
py="$venv/bin/python"
export PATH="$venv/bin:$PATH"
out_dir="$here/target/bench"
meta="$out_dir/meta.env"
budget="${BENCH_BUDGET_SECONDS:-900}"
cold_runs="${BENCH_COLD_RUNS:-21}"
cold_warmup=2
deny_runs="${BENCH_DENY_RUNS:-5}"
report_out="${BENCH_OUT:-$here/BENCHMARKS.md}"
started=$(date +%s)

bg_pids=()
cleanup() {
  local pid
  for pid in "${bg_pids[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${bg_pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

say() { echo "== bench: $*" >&2; }
elapsed() { echo $(( $(date +%s) - started )); }
note() { printf '%s=%s\n' "$1" "$2" >>"$meta"; }

# Runs a command in its own process group for at most $1 seconds; 124 when it ran out of time.
run_with_deadline() {
  local secs="$1"; shift
  setsid "$@" </dev/null &
  local pid=$!
  bg_pids+=("$pid")
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if (( waited >= secs )); then
      kill -TERM -- "-$pid" 2>/dev/null || true
      sleep 3
      kill -KILL -- "-$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 124
    fi
    sleep 1
    waited=$((waited + 1))
  done
  wait "$pid"
}

mkdir -p "$out_dir"
: >"$meta"

# -- the machine ----------------------------------------------------------------------------------
note date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
note nproc "$(nproc)"
note cpu "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)"
note memory "$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
note kernel "$(uname -sr)"
note rustc "$(rustc -V)"
note cargo "$(cargo -V)"
note python "$("$py" -c 'import platform; print(platform.python_version())')"
note boto3 "$("$py" -c 'import boto3; print(boto3.__version__)')"
note moto "$("$py" -c 'import moto; print(moto.__version__)')"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo none)"
if [ -n "$(git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then commit="$commit + uncommitted changes in src/ or Cargo.*"; fi
note commit "$commit"
note profile "$(awk '/^\[profile.release\]/{f=1;next} /^\[/{f=0} f && NF {printf "%s%s", sep, $0; sep="; "}' Cargo.toml)"
note cold_warmup "$cold_warmup"
note deny_runs "$deny_runs"

# -- 1. bench-only Python packages ----------------------------------------------------------------
stamp="$venv/.bench-installed"
if [ ! -f "$stamp" ] || [ tools/requirements-bench.txt -nt "$stamp" ]; then
  say "installing tools/requirements-bench.txt into $venv"
  if "$venv/bin/pip" install --quiet -r tools/requirements-bench.txt; then
    touch "$stamp"
  else
    say "could not install tools/requirements-bench.txt (the arm64 build needs ziglang)"
  fi
fi

# -- 2. release build -----------------------------------------------------------------------------
# BENCH_BINARY measures a release binary built elsewhere instead (e.g. from a clean export of a
# commit while the work tree is being edited); the report's commit line then names it.
binary="$out_dir/bin/session-revoker"
mkdir -p "$out_dir/bin"
t=$(date +%s)
if [ -n "${BENCH_BINARY:-}" ]; then
  say "measuring $BENCH_BINARY (BENCH_BINARY), no build"
  cp -f "$BENCH_BINARY" "$binary"
  note release_build_seconds "0 (BENCH_BINARY)"
  note commit "${BENCH_BINARY_LABEL:-$BENCH_BINARY}"
else
  say "cargo build --release"
  cargo build --release --bin session-revoker
  note release_build_seconds "$(( $(date +%s) - t ))"
  # `cargo bench` below also builds the bin target, with the bench profile and the dev-dependencies'
  # features, into the same target/release/session-revoker: measure a copy of the release build.
  cp -f "$here/target/release/session-revoker" "$binary"
fi
note binary_bytes "$(stat -c %s "$binary")"

# The build before issue 16, for the before/after table (optional).
before="${BENCH_BEFORE:-$out_dir/before/session-revoker}"
before_args=()
if [ -x "$before" ]; then
  before_args=(--before "$before")
  note before_binary_bytes "$(stat -c %s "$before")"
  "$py" tools/bench/zip_bootstrap.py "$before" "$out_dir/before/bootstrap.zip" >/dev/null
  note before_zip_bytes "$(stat -c %s "$out_dir/before/bootstrap.zip")"
  [ -f "$out_dir/before/commit" ] && note before_commit "$(cat "$out_dir/before/commit")"
else
  say "no build to compare with at $before (tools/bench/build-before.sh <commit> makes one): before/after left out"
fi

# The burst runs at the template's reserved concurrency unless told otherwise.
burst_concurrency="${BENCH_BURST_CONCURRENCY:-$(awk '/^  ReservedConcurrency:/{f=1} f && /Default:/{print $2; exit}' template.yaml)}"
note burst_concurrency "$burst_concurrency"

# -- 3. cold start, event to deny, peak RSS -------------------------------------------------------
say "measuring: cold start, event to deny, peak RSS (moto on 127.0.0.1)"
t=$(date +%s)
rm -rf "$out_dir/logs"
tools/with-moto.sh "$py" tools/bench/driver.py \
  --binary "$binary" --python "$py" --out "$out_dir/driver.json" --log-dir "$out_dir/logs" \
  --cold-runs "$cold_runs" --warmup "$cold_warmup" --deny-runs "$deny_runs" --first-event-runs 5 \
  --rss-findings 100 --rss-roles 20 "${before_args[@]}" \
  --only cold --only first --only deny --only rss --only burst \
  --burst-concurrency "$burst_concurrency" --burst-png "$(dirname "$report_out")/BENCHMARKS-burst.png"
note driver_seconds "$(( $(date +%s) - t ))"

# -- 4. sizes -------------------------------------------------------------------------------------
# x86_64: `cargo lambda build --release --compiler cargo` would build again for an explicit
# --target x86_64-unknown-linux-gnu with -C target-cpu=haswell (a second full build, into another
# target directory), so the release binary just measured is zipped the way cargo lambda zips it.
x86_zip="$out_dir/x86_64/bootstrap.zip"
arch="$("$py" tools/bench/zip_bootstrap.py "$binary" "$x86_zip")"
note x86_zip_bytes "$(stat -c %s "$x86_zip")"
note x86_zip_how "the release binary zipped as \`bootstrap\` by tools/bench/zip_bootstrap.py ($arch, deflate), not by \`cargo lambda build\`, which would rebuild with --target x86_64-unknown-linux-gnu and -C target-cpu=haswell"

# -- 5. criterion ---------------------------------------------------------------------------------
# The bench lives in its own crate over the pure core (bench/, revoker-bench): no AWS SDK crate is built for it. The build
# gets what is left of the budget (cargo keeps what it finished: the next run goes on from there).
t=$(date +%s)
criterion_args=(--warm-up-time 1 --measurement-time 3 --sample-size 30)
note criterion_args "\`${criterion_args[*]}\`"
rm -rf "$here/target/criterion/pure_path" "$here/target/criterion/pure_path_stages"
left=$(( budget - $(elapsed) ))
if (( left < 30 )); then
  note criterion_reason "no time left in the bench's ${budget} s budget; the next \`make bench\` measures it"
else
  say "criterion: cargo bench --bench pure_path (build: at most ${left} s)"
  rc=0
  run_with_deadline "$left" cargo bench -p revoker-bench --bench pure_path --no-run \
    >"$out_dir/criterion.log" 2>&1 || rc=$?
  if (( rc == 124 )); then
    note criterion_reason "the bench build did not finish within the ${left} s left of the bench's ${budget} s budget (its progress is kept in target/: the next \`make bench\` goes on with it)"
  elif (( rc != 0 )); then
    tail -20 "$out_dir/criterion.log" >&2
    note criterion_reason "cargo bench --no-run failed (see target/bench/criterion.log)"
  elif timeout 300 cargo bench -p revoker-bench --bench pure_path -- "${criterion_args[@]}" \
       >>"$out_dir/criterion.log" 2>&1; then
    grep -E '^(pure_path|  *time:|  *thrpt:)' "$out_dir/criterion.log" >&2 || true
  else
    tail -20 "$out_dir/criterion.log" >&2
    note criterion_reason "cargo bench failed (see target/bench/criterion.log)"
  fi
  # cargo bench also re-links target/release/session-revoker from its bench-profile build: put
  # the release build back (cargo re-links it from its own artefacts).
  [ -n "${BENCH_BINARY:-}" ] || cargo build --release --bin session-revoker --quiet
fi
note criterion_seconds "$(( $(date +%s) - t ))"

# -- 6. arm64 zip (what is left of the budget) ----------------------------------------------------
t=$(date +%s)
arm_reason=""
if [ "${BENCH_ARM64:-auto}" = never ]; then
  arm_reason="skipped (BENCH_ARM64=never)"
elif ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu \
     && ! timeout 120 rustup target add aarch64-unknown-linux-gnu </dev/null >"$out_dir/rustup.log" 2>&1; then
  arm_reason="the rustup target aarch64-unknown-linux-gnu could not be installed: $(tail -1 "$out_dir/rustup.log" | tr -d '|')"
elif ! "$py" -c 'import ziglang' 2>/dev/null; then
  arm_reason="zig (PyPI ziglang, tools/requirements-bench.txt) is not installed in $venv"
else
  left=$(( budget - $(elapsed) ))
  if (( left < 30 )); then
    arm_reason="no time left in the bench's ${budget} s budget; \`make build\` builds it, and the next \`make bench\` measures it"
  else
    say "cargo lambda build --release --arm64 --output-format zip (at most ${left} s)"
    rc=0
    run_with_deadline "$left" cargo lambda build --release --arm64 --output-format zip \
      >"$out_dir/arm64-build.log" 2>&1 || rc=$?
    arm_zip="$here/target/lambda/session-revoker/bootstrap.zip"
    if (( rc == 124 )); then
      arm_reason="the arm64 build did not finish within the ${left} s left of the bench's ${budget} s budget (its progress is kept in target/: \`make build\` or the next \`make bench\` finishes it)"
    elif (( rc != 0 )); then
      arm_reason="cargo lambda build --arm64 failed (exit $rc): $(grep -m1 -iE 'error' "$out_dir/arm64-build.log" | tr -d '|' | cut -c1-200)"
    elif [ "$("$py" tools/bench/zip_bootstrap.py --arch "$arm_zip")" != arm64 ]; then
      arm_reason="$arm_zip does not hold an arm64 bootstrap"
    else
      note arm64_zip_bytes "$(stat -c %s "$arm_zip")"
      note arm64_how "\`cargo lambda build --release --arm64 --output-format zip\` (cargo-zigbuild, zig from PyPI ziglang)"
      arm_bin="$here/target/aarch64-unknown-linux-gnu/release/session-revoker"
      [ -f "$arm_bin" ] && note arm64_binary_bytes "$(stat -c %s "$arm_bin")"
    fi
  fi
fi
[ -n "$arm_reason" ] && note arm64_reason "$arm_reason" && say "arm64 zip not measured: $arm_reason"
note arm64_seconds "$(( $(date +%s) - t ))"

# -- 7. the report --------------------------------------------------------------------------------
note total_seconds "$(elapsed)"
profiles=()
[ -f "$out_dir/profiles.json" ] && profiles=(--profiles "$out_dir/profiles.json")
"$py" tools/bench/report.py --driver "$out_dir/driver.json" --meta "$meta" \
  --criterion "$here/target/criterion" "${profiles[@]}" --out "$report_out"
say "done in $(elapsed) s"
