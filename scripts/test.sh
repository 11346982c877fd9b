#!/usr/bin/env bash
# Installs what the tests need, then runs every test.
#   - Debian's docker-registry (distribution 2.8.2), openssl, chromium (the HTML reports'
#     screenshot tests), skopeo (a real client copying out of an exported layout) and
#     libxml2-utils (xmllint validates junit.xml against the Jenkins schema), via apt-get
#   - ferro-oci-server 1.0.0, via cargo install --locked
#   - the oras Python SDK 0.2.43, via pip into a virtual environment it creates (.venv-clients)
# then runs every test, and last installs referee itself and runs the library from an empty
# directory (the check library is built into the binary).
# The integration tests start both on 127.0.0.1 (free ports, temporary storage) and stop them
# by PID when they finish (tests/support/external.rs). Nothing listens beyond loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# Debian packages: the registry, and openssl for the TLS test's self-signed certificate.
missing=()
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v skopeo >/dev/null 2>&1 || missing+=(skopeo)
command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]} (Debian packages)"
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  # The package starts a system service on some machines; the tests start their own.
  $SUDO systemctl stop docker-registry >/dev/null 2>&1 || true
fi
docker-registry --version
openssl version
chromium --version 2>/dev/null || echo "chromium: $(command -v chromium)"
skopeo --version

# Never run ferro-oci-server to ask its version: it takes no flags, ignores them and starts
# serving on 0.0.0.0:8080. cargo's own install list answers instead.
if ! cargo install --list | grep -q '^ferro-oci-server v1\.0\.0:'; then
  echo "==> installing ferro-oci-server 1.0.0 (crates.io)"
  cargo install --locked ferro-oci-server --version 1.0.0
fi
command -v ferro-oci-server

# The oras Python SDK (a real client, tests/clients.rs) in a virtual environment of our own.
if ! .venv-clients/bin/python -c "import oras" >/dev/null 2>&1; then
  echo "==> installing the oras Python SDK 0.2.43 (PyPI) into .venv-clients"
  python3 -m venv .venv-clients
  .venv-clients/bin/pip install --quiet --disable-pip-version-check oras==0.2.43
fi
.venv-clients/bin/python -c "import importlib.metadata as m; print('oras (Python SDK)', m.version('oras'))"

# The tests fail, rather than skip, when a registry binary is missing.
export REFEREE_REQUIRE_EXTERNAL=1

# The tests run referee many times: none of those runs belongs on a GitHub job's summary.
unset GITHUB_STEP_SUMMARY

echo "==> cargo test --locked"
cargo test --locked

# What a vendor does: install the binary and run the library from a directory with no sources.
# The debug install reuses the test build (same target directory), so it only links.
echo "==> cargo install --path . (debug), then referee run from an empty directory"
install_root="$(mktemp -d)"
trap 'rm -rf "$install_root"' EXIT
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}" cargo install --locked --debug --quiet --path . --root "$install_root"
mkdir "$install_root/work"
if ! (cd "$install_root/work" && "$install_root/bin/referee" run >"$install_root/run.log" 2>&1); then
  cat "$install_root/run.log"
  echo "the installed referee failed to run the library from an empty directory"
  exit 1
fi
grep '^summary:' "$install_root/run.log"
