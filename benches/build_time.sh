#!/usr/bin/env bash
# How much a 20-step `pipeline!` adds to `cargo build` over an empty `main`.
# Prints one JSON line. Dependencies are built first, so only the user's crate is timed.
set -euo pipefail
# Incremental caches would hide the cost of expanding the macros again.
export CARGO_INCREMENTAL=0
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/target/build-time-bench"
mkdir -p "$work/src"
cat > "$work/Cargo.toml" <<TOML
[package]
name = "build-time-bench"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
distil = { path = "$root/distil" }
tokio = { version = "1", features = ["rt-multi-thread", "macros"] }

[workspace]
TOML

empty='fn main() {}'

pipeline() {
  echo 'use distil::prelude::*;'
  echo 'use distil::steps::LoadDataFromDicts;'
  echo '#[derive(Row)] struct Seed { c0: String }'
  for i in $(seq 1 19); do
    echo "#[derive(Row)] struct Out$i { c$i: String }"
    echo "#[step] fn step_$i(c$((i - 1)): &str) -> Out$i { Out$i { c$i: c$((i - 1)).to_owned() } }"
  done
  echo 'fn main() {'
  echo '    let _pipeline = pipeline! {'
  echo '        name: "twenty",'
  echo '        s0 = LoadDataFromDicts::<Seed>::new(vec![Seed { c0: "x".into() }]),'
  for i in $(seq 1 19); do
    echo "        s$i = Step$i::new(),"
  done
  printf '        s0'
  for i in $(seq 1 19); do printf ' >> s%d' "$i"; done
  echo ','
  echo '    };'
  echo '}'
}

# The fastest of three builds: on a shared machine the others measure its other work.
timed_build() {
  local best="" start end took
  for _ in 1 2 3; do
    touch "$work/src/main.rs"
    start=$(date +%s.%N)
    cargo build --quiet --manifest-path "$work/Cargo.toml" --target-dir "$root/target" >/dev/null
    end=$(date +%s.%N)
    took=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    if [ -z "$best" ] || awk -v t="$took" -v b="$best" 'BEGIN { exit !(t < b) }'; then
      best=$took
    fi
  done
  echo "$best"
}

echo "$empty" > "$work/src/main.rs"
cargo build --quiet --manifest-path "$work/Cargo.toml" --target-dir "$root/target" >/dev/null
empty_s=$(timed_build)
pipeline > "$work/src/main.rs"
cargo build --quiet --manifest-path "$work/Cargo.toml" --target-dir "$root/target" >/dev/null
pipeline_s=$(timed_build)
added=$(awk -v a="$empty_s" -v b="$pipeline_s" 'BEGIN { printf "%.3f", b - a }')
printf '{"bench":"build_time_20_steps","empty_main_s":%.3f,"pipeline_main_s":%.3f,"added_s":%.3f,"target_added_s":2}\n' "$empty_s" "$pipeline_s" "$added"
