#!/usr/bin/env python3
"""The engine-step and "limit" tables of docs/performance.md, from the
results the benchmarks left in the target directory.

    python3 benches/limit/limit.py steps     # engine steps per backend
    python3 benches/limit/limit.py limit     # our time against the floor
    python3 benches/limit/limit.py limit --pgbench pgbench.txt

Inputs (run these first):
  cargo bench -p mfa-benches --bench micro  -- --warm-up-time 1 --measurement-time 3
  cargo bench -p mfa-benches --bench engine -- --warm-up-time 1 --measurement-time 3
  (optional) MFA_BENCH_PING=0 cargo bench -p mfa-benches --bench engine -- \
      --warm-up-time 1 --measurement-time 3 engine_postgres
The engine bench writes the store calls, SQL statements, transactions, WAL
flushes and pool acquires of every step to
<target>/tmp/engine-step-counts.json; criterion writes the times to
<target>/criterion/<group>/<step>/new/estimates.json (mean, ns).

The floor of a step on PostgreSQL:
    primitive cost (the crypto the step cannot skip, from the micro benches)
  + round trips without pings x one-statement latency (pgbench SELECT by key)
  + WAL flushes x (pgbench autocommit UPDATE - pgbench SELECT by key)
where round trips are the statements, COMMIT included, plus one BEGIN per
transaction, as the engine issues them today. The pings sqlx sends before
every pool acquire are not in the floor: they can be turned off.
"""

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

STEPS = [
    "login",
    "send_challenge_email",
    "verify_totp",
    "verify_backup_code",
    "refresh",
    "authenticate",
]

# The crypto each step must do, as criterion ids: (id, what).
PRIMITIVES = {
    "login": [("floor/argon2id_test_params_verify", "argon2id verify (test parameters)")],
    "send_challenge_email": [
        ("otp_verify/generate_6_digits", "generate a code"),
        ("otp_verify/ours_parse_and_verify_keyed_hash", "keyed digest (≈ hashing it)"),
    ],
    "verify_totp": [
        ("totp_verify/ours_open_seed_then_verify", "open seed + TOTP verify"),
        ("jwt/eddsa_issue", "issue the access token"),
    ],
    "verify_backup_code": [
        ("backup_code/consume_with_10_on_file", "backup-code HMAC + consume"),
        ("jwt/eddsa_issue", "issue the access token"),
    ],
    "refresh": [("jwt/eddsa_issue", "issue the access token")],
    "authenticate": [("jwt/eddsa_verify", "verify the access token")],
}


def target_dir():
    out = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["target_directory"]


def mean_us(target, bench_id):
    path = os.path.join(target, "criterion", bench_id, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["mean"]["point_estimate"] / 1000.0
    except FileNotFoundError:
        return None


def counts(target):
    path = os.path.join(target, "tmp", "engine-step-counts.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        sys.exit(f"{path} is missing: run the engine bench first")


def pgbench(path):
    if path:
        with open(path) as f:
            text = f.read()
    else:
        text = subprocess.run(
            [os.path.join(HERE, "pgbench.sh")], check=True, capture_output=True, text=True
        ).stdout
    values = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            values[parts[0]] = float(parts[1])
    return values


def fmt(us):
    if us is None:
        return "–"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.1f} µs"


def steps_table(target):
    c = counts(target)
    variants = [
        (suffix, label)
        for suffix, label in [
            ("_no_ping", "PG, no ping"),
            ("_async_commit", "PG, async commit"),
            ("_no_ping_async_commit", "PG, async commit, no ping"),
        ]
        if any(k.startswith(f"engine_postgres{suffix}/") for k in c)
    ]
    head = ["step", "memory", "SQLite", "PostgreSQL"] + [label for _, label in variants]
    head += ["store calls", "SQL statements (tx)", "PG round trips (with pings)", "WAL flushes"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    rows = [(s, s) for s in STEPS] + [("login_owasp_params", "login at OWASP argon2")]
    for step, label in rows:
        group = "engine_memory_owasp" if step == "login_owasp_params" else "engine_memory"
        mem = mean_us(target, f"{group}/{step}")
        lite = mean_us(target, f"engine_sqlite/{step}")
        pg = mean_us(target, f"engine_postgres/{step}")
        k = c.get(f"engine_postgres/{step}") or {}
        calls = (c.get(f"{group}/{step}") or {}).get("store_calls", "–")
        row = [label, fmt(mem), fmt(lite), fmt(pg)]
        for suffix, _ in variants:
            row.append(fmt(mean_us(target, f"engine_postgres{suffix}/{step}")))
        if k:
            sql = f"{k['statements'] - k['transactions']} ({k['transactions']})"
            trips = f"{k['round_trips_without_pings']} ({k['round_trips_with_pings']})"
            row += [str(calls), sql, trips, str(k["flushes"])]
        else:
            row += [str(calls), "–", "–", "–"]
        print("| " + " | ".join(row) + " |")


def limit_table(target, pgbench_file, group):
    c = counts(target)
    pg = pgbench(pgbench_file)
    rt = pg["select_pk"]
    flush = max(0.0, pg["update_pk"] - pg["select_pk"])
    print(
        f"One round trip (pgbench SELECT by key, -c 1): {rt:.1f} µs; "
        f"SELECT 1: {pg['select_1']:.1f} µs; autocommit UPDATE: {pg['update_pk']:.1f} µs, "
        f"INSERT: {pg['insert_row']:.1f} µs, so one WAL flush ≈ {flush:.1f} µs.\n"
    )
    head = [
        "step",
        "primitive",
        "round trips",
        "WAL flushes",
        "floor",
        "ours, memory",
        "ours, PostgreSQL",
        "ratio PG / floor",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for step in STEPS:
        prim = [mean_us(target, i) for i, _ in PRIMITIVES[step]]
        prim_us = None if None in prim else sum(prim)
        k = c.get(f"{group}/{step}")
        ours = mean_us(target, f"{group}/{step}")
        mem = mean_us(target, f"engine_memory/{step}")
        if k is None or prim_us is None:
            print(f"| {step} | missing input: run micro and engine first |")
            continue
        trips = k["round_trips_without_pings"]
        floor = prim_us + trips * rt + k["flushes"] * flush
        ratio = f"{ours / floor:.2f}×" if ours else "–"
        what = " + ".join(w for _, w in PRIMITIVES[step])
        print(
            f"| {step} | {fmt(prim_us)} ({what}) | {trips} | {k['flushes']} | {fmt(floor)} "
            f"| {fmt(mem)} | {fmt(ours)} | {ratio} |"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("table", choices=["steps", "limit"])
    parser.add_argument("--target", help="cargo target directory (default: cargo metadata)")
    parser.add_argument("--pgbench", help="saved output of pgbench.sh (default: run it)")
    parser.add_argument(
        "--group",
        default="engine_postgres",
        help="PostgreSQL group to compare (e.g. engine_postgres_async_commit, "
        "with pgbench run under PGOPTIONS='-c synchronous_commit=off')",
    )
    args = parser.parse_args()
    target = args.target or target_dir()
    if args.table == "steps":
        steps_table(target)
    else:
        limit_table(target, args.pgbench, args.group)


if __name__ == "__main__":
    main()
