#!/usr/bin/env bash
# Peer comparison: pyotp and django-otp (PyPI) and better-auth (npm), timed
# beside mfa-rs in one run: TOTP verify, and the login-with-TOTP flow on
# SQLite in-process. Prints a Markdown table with ratios peer / ours.
#
#   benches/peers/run.sh [OUT.json]      (default /tmp/peers.json)
#
# Needs python3 (with venv), node + npm, cargo, and network access to PyPI
# and npm. The peers are installed in a temporary directory that is removed
# at the end (PEERS_KEEP=1 keeps it); nothing from them lands in the repo.
set -euo pipefail

out="${1:-/tmp/peers.json}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/mfa-peers.XXXXXX")"
if [[ "${PEERS_KEEP:-0}" == 1 ]]; then
  echo "keeping $work" >&2
else
  trap 'rm -rf "$work"' EXIT
fi

echo "== installing peers in $work" >&2
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check pyotp django django-otp >&2
(
  cd "$work"
  npm init -y >/dev/null
  # better-sqlite3 13 segfaults on Node 20 here; 12 is the last line that works.
  npm install --no-audit --no-fund --loglevel=error better-auth 'better-sqlite3@12' >&2
)
# Imports resolve from the script's directory, so it runs beside node_modules.
cp "$here/better_auth.mjs" "$work/"

echo "== building our side" >&2
(cd "$root" && cargo build --release --quiet -p mfa-benches --bin peers)
target="$(cd "$root" && cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"

# One side at a time, so they never compete for the CPU.
echo "== ours" >&2
"$target/release/peers" "$work/ours.json" "$work"
echo "== pyotp + django-otp" >&2
"$work/venv/bin/python" "$here/pyotp_django.py" "$work/python.json" "$work"
echo "== better-auth" >&2
(cd "$work" && node better_auth.mjs "$work/better-auth.json" "$work")

echo >&2
python3 "$here/report.py" "$out" "$work/ours.json" "$work/python.json" "$work/better-auth.json"
