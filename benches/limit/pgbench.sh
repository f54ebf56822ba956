#!/usr/bin/env bash
# The physical floor of one PostgreSQL round trip on this machine: pgbench
# with one client (-c 1), so every transaction is one statement sent and
# answered, over the same TCP connection kind the stores use, with prepared
# statements (-M prepared) like sqlx.
#
#   benches/limit/pgbench.sh            # 10 s per statement kind
#   PGBENCH_SECONDS=30 benches/limit/pgbench.sh
#
# Prints one line per statement kind, "<name> <mean latency in µs>":
#   select_1     SELECT 1 (the bare round trip)
#   select_pk    primary-key SELECT on a 1000-row table
#   update_pk    single-row UPDATE, autocommit (includes the WAL flush)
#   insert_row   single-row INSERT, autocommit (includes the WAL flush)
# The database comes from MFA_TEST_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/test); the scratch tables are dropped.
set -euo pipefail

url=${MFA_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
seconds=${PGBENCH_SECONDS:-10}
table="mfab_pgbench_$$"
work=$(mktemp -d)

cleanup() {
    psql "$url" -qc "DROP TABLE IF EXISTS ${table}, ${table}_ins" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

psql "$url" -q -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE TABLE ${table} (id integer PRIMARY KEY, v text NOT NULL, n bigint NOT NULL);
INSERT INTO ${table} SELECT g, md5(g::text), 0 FROM generate_series(1, 1000) g;
CREATE TABLE ${table}_ins (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text NOT NULL);
ANALYZE ${table};
SQL

printf 'SELECT 1;\n' >"$work/select_1.sql"
printf '\\set id random(1, 1000)\nSELECT v FROM %s WHERE id = :id;\n' "$table" >"$work/select_pk.sql"
printf '\\set id random(1, 1000)\nUPDATE %s SET n = n + 1 WHERE id = :id;\n' "$table" >"$work/update_pk.sql"
printf "INSERT INTO %s_ins (v) VALUES ('x');\n" "$table" >"$work/insert_row.sql"

for kind in select_1 select_pk update_pk insert_row; do
    out=$(pgbench -n -c 1 -j 1 -M prepared -T "$seconds" -f "$work/$kind.sql" "$url" 2>&1) || {
        echo "pgbench failed for $kind:" >&2
        echo "$out" >&2
        exit 1
    }
    ms=$(sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p' <<<"$out")
    if [ -z "$ms" ]; then
        echo "no latency in the pgbench output for $kind:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk -v k="$kind" -v ms="$ms" 'BEGIN { printf "%s %.1f\n", k, ms * 1000 }'
done
