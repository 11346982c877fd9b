#!/usr/bin/env bash
# The benchmarks, with what they need: wrk (Debian) for the client comparison, taskset (util-linux)
# to pin the registries to CPU 0 and the clients to CPU 1, ferro-oci-server 1.0.0 as the peer.
#   cargo bench --bench load      referrers endpoint: referee vs wrk, embedded vs ferro, p99 by
#                                 fan-out, the library with --jobs vs its slowest scenario
#   cargo bench --bench library   the check library against the embedded registry
# Everything listens on 127.0.0.1 only; the benchmark stops what it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if ! cargo install --list | grep -q '^ferro-oci-server v1\.0\.0:'; then
  cargo install --locked ferro-oci-server --version 1.0.0
fi
export REFEREE_REQUIRE_EXTERNAL=1
cargo bench --locked --bench load
if [ "${1:-}" = "--all" ]; then
  cargo bench --locked --bench library
fi
