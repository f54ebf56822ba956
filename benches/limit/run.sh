#!/usr/bin/env bash
# One command per table of docs/performance.md:
#
#   benches/limit/run.sh steps   # engine steps: memory, SQLite, PostgreSQL
#                                # (default pool, no ping, async commit)
#   benches/limit/run.sh limit   # our PostgreSQL step times against the floor
#
# Both run the benchmarks they need with moderate settings (override with
# BENCH_ARGS) and print Markdown tables. PostgreSQL comes from
# MFA_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test).
set -euo pipefail
cd "$(dirname "$0")/../.."

args=${BENCH_ARGS:---warm-up-time 1 --measurement-time 3}
engine() { cargo bench -p mfa-benches --bench engine -- $args "$@" >&2; }

case "${1:-}" in
steps)
    engine
    MFA_BENCH_PING=0 engine engine_postgres
    MFA_BENCH_SYNC_COMMIT=off engine engine_postgres
    MFA_BENCH_SYNC_COMMIT=off MFA_BENCH_PING=0 engine engine_postgres
    python3 benches/limit/limit.py steps
    ;;
limit)
    cargo bench -p mfa-benches --bench micro -- $args >&2
    engine 'floor|engine_memory/|engine_postgres'
    MFA_BENCH_SYNC_COMMIT=off engine engine_postgres
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    benches/limit/pgbench.sh >"$tmp/sync.txt"
    PGOPTIONS='-c synchronous_commit=off' benches/limit/pgbench.sh >"$tmp/async.txt"
    echo "### Durable commits (PostgreSQL default)"
    python3 benches/limit/limit.py limit --pgbench "$tmp/sync.txt"
    echo
    echo "### synchronous_commit = off"
    python3 benches/limit/limit.py limit --pgbench "$tmp/async.txt" \
        --group engine_postgres_async_commit
    ;;
*)
    echo "usage: $0 steps|limit" >&2
    exit 2
    ;;
esac
