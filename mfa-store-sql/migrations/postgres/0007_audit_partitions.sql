-- The audit log partitioned by month on `at` (declarative partitioning), so
-- that a month's events are one table: its index stays the size of a month,
-- queries of recent events touch recent partitions only, and an archived
-- month is dropped as a whole instead of deleted row by row
-- (`mfa_core::audit::archive`). The store creates the monthly partitions
-- (`SqlStore::maintain_audit_partitions`, at every `migrate` and after each
-- archive) a few months ahead; a DEFAULT partition catches any event
-- outside them, and the next maintenance moves its rows into their month.
--
-- PostgreSQL requires the partition key in every unique index: the primary
-- key becomes (id, at) and the chain position index (chain_id, chain_seq,
-- at). Ids are UUID v7 (unique by construction, time-ordered), and two
-- events at one chain position are reported by the verification whatever
-- the index allows.
--
-- An existing table is renamed, its rows copied into the new one (they
-- land in the DEFAULT partition until the first maintenance), then dropped:
-- on a large log, run it at a quiet hour.
ALTER TABLE {p}audit_events RENAME TO {p}audit_events_unpartitioned;
ALTER INDEX {p}audit_at_idx RENAME TO {p}audit_at_idx_unpartitioned;
ALTER INDEX {p}audit_user_idx RENAME TO {p}audit_user_idx_unpartitioned;
ALTER INDEX {p}audit_session_idx RENAME TO {p}audit_session_idx_unpartitioned;
ALTER INDEX {p}audit_device_idx RENAME TO {p}audit_device_idx_unpartitioned;
ALTER INDEX {p}audit_chain_idx RENAME TO {p}audit_chain_idx_unpartitioned;
ALTER TABLE {p}audit_events_unpartitioned RENAME CONSTRAINT {p}audit_events_pkey TO {p}audit_events_unpartitioned_pkey;
CREATE TABLE {p}audit_events (
    id UUID NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    user_id UUID,
    session_id UUID,
    device_id UUID,
    kind TEXT NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    factor TEXT,
    ip TEXT,
    user_agent TEXT,
    country TEXT,
    risk_score INTEGER CHECK (risk_score BETWEEN 0 AND 100),
    metadata JSONB NOT NULL,
    chain_id UUID,
    chain_seq BIGINT,
    chain_mac BYTEA,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX {p}audit_at_idx ON {p}audit_events (at, id);
CREATE INDEX {p}audit_user_idx ON {p}audit_events (user_id, at, id);
CREATE INDEX {p}audit_session_idx ON {p}audit_events (session_id, at, id);
CREATE INDEX {p}audit_device_idx ON {p}audit_events (device_id, at, id);
CREATE UNIQUE INDEX {p}audit_chain_idx ON {p}audit_events (chain_id, chain_seq, at);
CREATE TABLE {p}audit_events_default PARTITION OF {p}audit_events DEFAULT;
INSERT INTO {p}audit_events
    SELECT id, at, user_id, session_id, device_id, kind, outcome, factor, ip, user_agent,
           country, risk_score, metadata, chain_id, chain_seq, chain_mac
    FROM {p}audit_events_unpartitioned;
DROP TABLE {p}audit_events_unpartitioned;
