# session-revoker — every set-up step lives here: a fresh machine with Rust and Python needs nothing else.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
LINT_VENV := .venv-lint
SAM_VENV := .venv-sam
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: judge fakecloud fuzz all demo drill test unit lint-templates build deploy invoke-remote bench fmt clippy clean venv

all: test

# The local AWS (moto server) and the local Lambda runtime (cargo-lambda), pinned.
$(VENV)/.installed: tools/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r tools/requirements.txt
	touch $@

# Template checks (cfn-lint, checkov) in their own virtualenv so their pins never fight moto's.
$(LINT_VENV)/.installed: tools/requirements-lint.txt
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/pip install --quiet --upgrade pip
	$(LINT_VENV)/bin/pip install --quiet -r tools/requirements-lint.txt
	touch $@

# `sam validate --lint` (AWS SAM CLI, pinned) in a third virtualenv: its dependencies conflict with
# checkov's pins. It runs offline (checked with the network unshared).
$(SAM_VENV)/.installed: tools/requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet -r tools/requirements-sam.txt
	touch $@

venv: $(VENV)/.installed $(LINT_VENV)/.installed $(SAM_VENV)/.installed

# The policy judge (@cloud-copilot/iam-simulate, pinned with its lockfile), run as its own node process.
JUDGE := tools/iam-judge
$(JUDGE)/node_modules/.installed: $(JUDGE)/package.json $(JUDGE)/package-lock.json
	cd $(JUDGE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

judge: $(JUDGE)/node_modules/.installed

# The IAM-enforcing emulator (fakecloud, pinned), built once per machine into a cache outside the clone.
fakecloud:
	tools/install-fakecloud.sh >/dev/null

## make demo: build, start moto and the local Lambda runtime, seed a small account, send a
## GuardDuty finding through the function, show the report, the policy and the SNS message.
demo: $(VENV)/.installed
	tools/demo.sh

## make drill: one fire drill ({"action":"drill"}) against fakecloud, on a canary role seeded there.
drill: $(VENV)/.installed fakecloud
	tools/drill.sh

## make test: unit, adapter, emulator, policy-judge, drill and end-to-end tests, then the template checks.
test: $(VENV)/.installed $(LINT_VENV)/.installed $(SAM_VENV)/.installed $(JUDGE)/node_modules/.installed fakecloud
	cargo build --workspace --all-targets
	# The binary cargo-lambda runs is built without the tests' SDK features: build it up front too.
	cargo build --bin session-revoker
	tools/with-moto.sh tools/with-fakecloud.sh cargo test --workspace --all-targets
	# Issue 15's inputs through `cargo lambda invoke` against moto: another region, ASFF, custom action.
	tools/lambda-invoke-check.sh
	tools/check-templates.sh

## make unit: the pure core's tests and the Lambda crate's unit tests (no emulator).
unit:
	cargo test -p revoker-core
	cargo test --lib

lint-templates: $(LINT_VENV)/.installed $(SAM_VENV)/.installed
	tools/check-templates.sh

fmt:
	cargo fmt --all

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

## make build: arm64 release for Lambda (needs zig: pip install ziglang, and the rustup target).
build: $(VENV)/.installed
	rustup target add aarch64-unknown-linux-gnu
	$(VENV)/bin/pip install --quiet -r tools/requirements-bench.txt
	cargo lambda build --release --arm64 --output-format zip

## make deploy: `sam build`, then `sam deploy --guided` the first time (it saves the answers in
## samconfig.toml), `sam deploy` after that. See docs/deploy.md.
deploy:
	sam build
	@if [ -f .aws-sam/deployed ]; then sam deploy; else sam deploy --guided && touch .aws-sam/deployed; fi

## make invoke-remote EVENT=events/manual-revoke.json [FUNCTION=session-revoker]
FUNCTION ?= session-revoker
invoke-remote:
	@test -n "$(EVENT)" || { echo "usage: make invoke-remote EVENT=events/<file>.json"; exit 2; }
	aws lambda invoke --function-name $(FUNCTION) --cli-binary-format raw-in-base64-out \
		--payload fileb://$(EVENT) /dev/stdout

## make bench: cold start, event-to-deny, memory, sizes, throughput; writes BENCHMARKS.md.
bench: $(VENV)/.installed
	tools/bench.sh

clean:
	cargo clean
	rm -rf $(VENV) $(LINT_VENV)

## make fuzz [SECONDS=300]: libFuzzer on the core crate's payload parsing, triage and report (needs cargo-fuzz; stable Rust with RUSTC_BOOTSTRAP=1).
SECONDS ?= 300
fuzz:
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	mkdir -p core/fuzz/corpus/parse_payload && cp events/*.json core/fuzz/seeds/*.json core/fuzz/corpus/parse_payload/
	cd core/fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run parse_payload -- -max_total_time=$(SECONDS) -max_len=65536
