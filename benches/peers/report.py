"""Merges the per-side JSON files of `benches/peers/run.sh` into one report:
a Markdown table of median times per operation with ratios peer / ours,
written to stdout, and the whole data set as JSON.

Usage: python3 report.py OUT.json SIDE.json...
"""

import json
import os
import platform
import sys

OPERATIONS = [
    ("totp_verify", "TOTP verify, secret in memory (pure check, ±1 step)"),
    ("totp_verify_sealed_seed", "TOTP verify, stored secret decrypted first"),
    ("totp_verify_replay_write", "TOTP verify + replay-guard write (in-memory SQLite)"),
    (
        "login_totp_flow_default_hash",
        "login → TOTP → session, SQLite file, **each library's default password hashing**",
    ),
    (
        "login_totp_flow_cheap_hash",
        "login → TOTP → session, SQLite file, **cheap test password hashing on every side**",
    ),
    (
        "login_totp_flow_cheap_hash_sqlx",
        "the same, ours on `mfa-store-sqlx` (a worker-thread hop per statement)",
    ),
]
PEERS = ["pyotp", "django-otp", "better-auth"]


def load(paths):
    """{operation: {library: stats}} and {side: versions}."""
    table, versions = {}, {}
    for path in paths:
        with open(path) as f:
            side = json.load(f)
        versions[side["side"]] = side["versions"]
        for operation, entry in side["results"].items():
            libraries = {"ours": entry} if side["side"] == "ours" else entry
            table.setdefault(operation, {}).update(libraries)
    return table, versions


def human(ns):
    if ns is None:
        return "—"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def ratio(r):
    return f"{r:.2f}×" if r < 10 else f"{r:.0f}×"


def ratios(row):
    ours = row.get("ours", {}).get("median_ns")
    found = {}
    for peer in PEERS:
        if ours and peer in row:
            found[peer] = row[peer]["median_ns"] / ours
    return found


def main():
    out, sides = sys.argv[1], sys.argv[2:]
    table, versions = load(sides)
    lines = [
        "| operation | ours | pyotp | django-otp | better-auth | ratio peer/ours |",
        "|---|---:|---:|---:|---:|---|",
    ]
    merged = []
    for key, label in OPERATIONS:
        row = table.get(key, {})
        found = ratios(row)
        cells = [human(row.get(lib, {}).get("median_ns")) for lib in ["ours", *PEERS]]
        ratio_text = ", ".join(f"{peer} {ratio(r)}" for peer, r in found.items()) or "—"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {ratio_text} |")
        merged.append({"operation": key, "label": label, "results": row, "ratio_peer_over_ours": found})
    print("Median time per operation, one operation at a time; ratio = peer median / our median (> 1: the peer is slower).\n")
    print("\n".join(lines))
    print("\nWhat each cell times:\n")
    for key, label in OPERATIONS:
        for lib, stats in table.get(key, {}).items():
            print(f"- `{key}` / {lib}: {stats['note']} (n={stats['iterations']}, mean {human(stats['mean_ns'])})")
    print("\nVersions: " + "; ".join(
        f"{side}: " + ", ".join(f"{k} {v}" for k, v in v_.items()) for side, v_ in versions.items()
    ))
    host = {
        "machine": platform.machine(),
        "system": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(f"Host: {host['system']}, {host['cpus']} CPUs, load average {tuple(round(x, 2) for x in host['load_average'])}")
    with open(out, "w") as f:
        json.dump({"operations": merged, "versions": versions, "host": host}, f, indent=2)
    print(f"\nJSON: {out}")


if __name__ == "__main__":
    main()
