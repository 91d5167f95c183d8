#!/usr/bin/env bash
# Runs every verify parser fuzz target for a bounded time.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]   (default 60)
#
# With a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`), each libFuzzer
# target (dockerfile, compose, interp, compose_expand, yaml_fast) runs for SECONDS, seeded with the verify fixtures.
# Without them it falls back to the stable-Rust property loop
# (`crates/verify/tests/fuzz_loop.rs`: deterministic bytewise mutations of every fixture
# through the parsers and the whole rule/report pipeline), scaled to the time budget.
#
# A crash found by libFuzzer is saved under fuzz/artifacts/<target>/; copy the input to
# crates/verify/tests/fixtures/fuzz-regressions/<name>.<dockerfile|yml|env> and fix the bug: the
# property loop replays every file there on each `cargo test -p clawdbot-verify`.
set -euo pipefail
secs="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
fixtures="$repo/crates/verify/tests/fixtures"
targets=(dockerfile compose interp compose_expand yaml_fast)

if cargo +nightly fuzz --version >/dev/null 2>&1; then
  cd "$here"
  for t in "${targets[@]}"; do
    corpus="$here/corpus/$t"
    mkdir -p "$corpus"
    case "$t" in
      dockerfile) pattern='Dockerfile*' ;;
      compose) pattern='*.yml' ;;
      interp) pattern='dot-env*' ;;
      compose_expand) pattern='*.y*ml' ;;
      yaml_fast) pattern='*.y*ml' ;;
    esac
    find "$fixtures" -name "$pattern" -type f | while read -r f; do
      cp "$f" "$corpus/$(echo "$f" | sed "s|$fixtures/||; s|/|_|g")"
    done
    if [ "$t" = compose_expand ]; then
      # main file, common.yml, sub/compose.yaml and an env file, split by `---8<---`.
      printf '%s\n---8<---\n%s\n---8<---\n%s\n---8<---\n%s\n' \
        'include: [sub/compose.yaml]
services:
  web: {extends: {file: common.yml, service: base}, image: "a:${A}"}
  job: {extends: web, env_file: [sub/app.env]}' \
        'services: {base: {read_only: true, build: ./ctx, volumes: ["./d:/d:ro"]}}' \
        'include: [{path: ../common.yml}]
services: {mon: {image: "m:1", privileged: true}}' \
        'DB_PASSWORD=hunter2
URL=postgres://u:p@db/x' >"$corpus/seed-split"
    fi
    echo "== fuzz target $t for ${secs}s"
    cargo +nightly fuzz run "$t" "$corpus" -- -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536
  done
else
  echo "cargo-fuzz or a nightly toolchain is not available: running the stable property loop instead"
  # Roughly 1000 mutated inputs per fixture file per minute in release mode.
  iters=$(( secs * 1000 / 60 ))
  cd "$repo"
  FUZZ_ITERS="$iters" timeout "$(( secs * 4 + 600 ))" \
    cargo test -p clawdbot-verify --release fuzz_ -- --nocapture
fi
