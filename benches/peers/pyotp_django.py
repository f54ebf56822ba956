"""The Python peers of `benches/peers/run.sh`: pyotp and django-otp.

Usage: python pyotp_django.py OUT.json WORK_DIR

Times, per operation, the same things as `benches/src/bin/peers.rs`:

- totp_verify: pyotp `TOTP.verify(code, for_time, valid_window=1)` and
  django-otp's primitive `django_otp.oath.TOTP.verify(token, tolerance=1)`,
  both at a fixed instant, secret already in memory.
- totp_verify_replay_write: `TOTPDevice.verify_token` on in-memory SQLite
  (throttle check, verify, then `last_t` + throttle reset + last-used
  timestamp saved: one UPDATE). A mocked clock moves 30 s per call so every
  token is a fresh step: the replay guard is live, not skipped.
- login_totp_flow_{default,cheap}_hash: on a SQLite file, two "requests":
  1. `authenticate()` with the password, the pending user id stored in a
     new database session (the ticket);
  2. that session loaded, the user's TOTP device looked up, the token checked
     with `django_otp.verify_token` (transaction + SELECT … FOR UPDATE, the
     recommended API), then `django.contrib.auth.login()` (session key cycled,
     last_login written) and `django_otp.login()`, and the session saved.
  Default hashing is Django's (PBKDF2-SHA256, Django's iteration count);
  cheap is `MD5PasswordHasher` through PASSWORD_HASHERS.
"""

import base64
import json
import os
import statistics
import subprocess
import sys
import time

NOW = 1_900_000_000
PURE_BATCHES = 200
PURE_PER_BATCH = 100
STORED_VERIFIES = 2_000
FLOWS_DEFAULT_HASH = 20
FLOWS_CHEAP_HASH = 300
WARMUP_FLOWS = 3


def summary(per_op_ns, note, iterations=None):
    return {
        "median_ns": statistics.median(per_op_ns),
        "mean_ns": statistics.fmean(per_op_ns),
        "iterations": iterations or len(per_op_ns),
        "note": note,
    }


def batched(op, note):
    for _ in range(PURE_PER_BATCH * 10):
        op()
    samples = []
    for _ in range(PURE_BATCHES):
        start = time.perf_counter_ns()
        for _ in range(PURE_PER_BATCH):
            op()
        samples.append((time.perf_counter_ns() - start) / PURE_PER_BATCH)
    return summary(samples, note, PURE_BATCHES * PURE_PER_BATCH)


def configure_django(database, hashers):
    """Settings in-script: one database per part (in-memory for the device
    check, a file per hashing mode for the flow) and its password hashers."""
    import django
    from django.conf import settings

    options = {}
    if database != ":memory:":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(database + suffix):
                os.remove(database + suffix)
        # The same pragmas as our SqliteStore (WAL, synchronous=NORMAL) so
        # the flow compares libraries, not fsync policies.
        options["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    settings.configure(
        DEBUG=False,
        SECRET_KEY="peers-bench-secret-key-not-for-production-0123456789",
        USE_TZ=True,
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django_otp",
            "django_otp.plugins.otp_totp",
        ],
        DATABASES={
            "default": {
                "ENGINE": "django.db.backends.sqlite3",
                "NAME": database,
                "OPTIONS": options,
            }
        },
        SESSION_ENGINE="django.contrib.sessions.backends.db",
        PASSWORD_HASHERS=hashers,
    )
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class FakeClock:
    """Replaces the `time` module django-otp's TOTP device reads, so each
    verification lands on a fresh time step (its replay guard stays on)."""

    def __init__(self, start):
        self.now = float(start)

    def time(self):
        return self.now


def pure_totp(results):
    import pyotp
    from django_otp.oath import TOTP as OathTOTP

    secret = pyotp.random_base32()
    totp = pyotp.TOTP(secret)
    code = totp.at(NOW)
    results.setdefault("totp_verify", {})["pyotp"] = batched(
        lambda: totp.verify(code, for_time=NOW, valid_window=1) or fail("pyotp"),
        "pyotp.TOTP.verify(code, for_time, valid_window=1), base32 secret in memory",
    )
    key = base64.b32decode(secret)
    token = int(code)

    def django_primitive():
        oath = OathTOTP(key, 30, 0, 6, 0)
        oath.time = NOW
        oath.verify(token, 1) or fail("django_otp.oath")

    results["totp_verify"]["django-otp"] = batched(
        django_primitive,
        "django_otp.oath.TOTP(key).verify(token, tolerance=1) at a fixed time, no database",
    )


def fail(what):
    raise SystemExit(f"{what}: a valid code was rejected")


def device_verify(results):
    from django.contrib.auth.models import User
    from django_otp.oath import TOTP as OathTOTP
    from django_otp.plugins.otp_totp import models as totp_models
    from django_otp.plugins.otp_totp.models import TOTPDevice

    clock = FakeClock(NOW)
    totp_models.time = clock
    user = User.objects.create_user("alice", password="peer bench password 123")
    device = TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    samples = []
    for i in range(STORED_VERIFIES + 100):
        clock.now += 30
        token = token_at(device, clock.now)
        start = time.perf_counter_ns()
        ok = device.verify_token(token)
        elapsed = time.perf_counter_ns() - start
        if not ok:
            fail("TOTPDevice.verify_token")
        if i >= 100:
            samples.append(elapsed)
    # The guard is live: the same token again is refused.
    if device.verify_token(token):
        raise SystemExit("django-otp accepted a replayed token")
    results["totp_verify_replay_write"] = {
        "django-otp": summary(
            samples,
            "TOTPDevice.verify_token on in-memory SQLite: throttle check, verify (tolerance 1), "
            "UPDATE of last_t/drift/throttle/last_used_at; clock mocked +30 s per call",
        )
    }


def token_at(device, now):
    from django_otp.oath import TOTP as OathTOTP

    oath = OathTOTP(device.bin_key, device.step, device.t0, device.digits, 0)
    oath.time = now
    return f"{oath.token():06d}"


def login_flow(results, mode):
    from django.contrib.auth import authenticate, login as auth_login
    from django.contrib.auth.hashers import get_hasher
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import HttpRequest
    import django_otp
    from django_otp.plugins.otp_totp import models as totp_models
    from django_otp.plugins.otp_totp.models import TOTPDevice

    clock = FakeClock(time.time())
    totp_models.time = clock
    password = "peer bench password 123"
    user = User.objects.create_user("alice", password=password)
    TOTPDevice.objects.create(user=user, name="app", confirmed=True)
    device = TOTPDevice.objects.get(user=user)
    flows = FLOWS_CHEAP_HASH if mode == "cheap" else FLOWS_DEFAULT_HASH
    warmup = WARMUP_FLOWS * (10 if mode == "cheap" else 1)
    samples = []
    for i in range(warmup + flows):
        clock.now += 30
        token = token_at(device, clock.now)
        start = time.perf_counter_ns()
        # Request 1: the password; the pending user goes in a new session,
        # whose key plays the part of our MFA ticket.
        first = HttpRequest()
        first.session = SessionStore()
        signed_in = authenticate(first, username="alice", password=password)
        if signed_in is None:
            fail("authenticate")
        first.session["otp_pending_user"] = signed_in.pk
        first.session.save()
        ticket = first.session.session_key
        # Request 2: the TOTP code, then the signed-in session.
        second = HttpRequest()
        second.session = SessionStore(session_key=ticket)
        pending = User.objects.get(pk=second.session["otp_pending_user"])
        chosen = TOTPDevice.objects.devices_for_user(pending).first()
        verified = django_otp.verify_token(pending, chosen.persistent_id, token)
        if verified is None:
            fail("django_otp.verify_token")
        pending.otp_device = verified
        auth_login(second, pending)
        django_otp.login(second, verified)
        second.session.save()
        elapsed = time.perf_counter_ns() - start
        if i >= warmup:
            samples.append(elapsed)
    if django_otp.verify_token(user, device.persistent_id, token) is not None:
        raise SystemExit("django-otp accepted a replayed token")
    hasher = get_hasher()
    hashing = (
        f"{hasher.algorithm} {hasher.iterations} iterations (Django default)"
        if mode == "default"
        else "MD5PasswordHasher (salted MD5, cheap test hasher)"
    )
    results[f"login_totp_flow_{mode}_hash"] = {
        "django-otp": summary(
            samples,
            "authenticate() + pending user in a DB session, then devices_for_user + "
            "django_otp.verify_token (atomic, select_for_update) + auth.login (cycle key, "
            "last_login) + django_otp.login + session.save; SQLite file (WAL, "
            "synchronous=NORMAL); replay guard and django-otp throttling on (clock mocked "
            f"+30 s per flow); Django has no login rate limit; {hashing}",
        )
    }


PARTS = {
    # part: (database, password hashers)
    "totp": (":memory:", ["django.contrib.auth.hashers.MD5PasswordHasher"]),
    "default": ("django-default.db", ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]),
    "cheap": ("django-cheap.db", ["django.contrib.auth.hashers.MD5PasswordHasher"]),
}


def run_part(part, work_dir):
    """One part per process: Django settings are configured once."""
    database, hashers = PARTS[part]
    if database != ":memory:":
        database = os.path.join(work_dir, database)
    configure_django(database, hashers)
    results = {}
    if part == "totp":
        pure_totp(results)
        device_verify(results)
    else:
        login_flow(results, part)
    return results


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/tmp/peers-python.json"
    work_dir = sys.argv[2] if len(sys.argv) > 2 else "/tmp"
    if len(sys.argv) > 3:
        json.dump(run_part(sys.argv[3], work_dir), open(out, "w"))
        return
    from importlib.metadata import version

    results = {}
    for part in PARTS:
        part_out = os.path.join(work_dir, f"python-{part}.json")
        subprocess.run([sys.executable, __file__, part_out, work_dir, part], check=True)
        with open(part_out) as f:
            for operation, sides in json.load(f).items():
                results.setdefault(operation, {}).update(sides)
    report = {
        "side": "python",
        "versions": {
            "python": sys.version.split()[0],
            "pyotp": version("pyotp"),
            "django": version("django"),
            "django-otp": version("django-otp"),
        },
        "results": results,
    }
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
    print(f"python peers: wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
