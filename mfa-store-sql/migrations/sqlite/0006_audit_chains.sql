-- Tamper-evident audit log: every event the engine writes carries its
-- place in a chain of keyed links (see `mfa_core::audit`): the chain, the
-- position in it (from 1, without gaps) and the mac that binds the event's
-- content to the event before it. Events written before chains existed
-- keep NULL in all three (they are counted, not verified). The three are
-- set together or not at all; the store's row reader refuses anything
-- else as a corrupt row. No CHECK on them: a verification must read back,
-- and report, whatever someone with write access to the table put there.
-- `chain_id` is a UUID as 16 bytes, like every id here; `chain_mac` is the
-- 32-byte HMAC-SHA256.
ALTER TABLE {p}audit_events ADD COLUMN chain_id BLOB;
ALTER TABLE {p}audit_events ADD COLUMN chain_seq INTEGER;
ALTER TABLE {p}audit_events ADD COLUMN chain_mac BLOB;
-- scan_audit_chains: the walks of the chains for verification (chain by
-- chain, each in order, keyset paging on (chain_id, chain_seq)); and no
-- two events at one position of a chain. NULLs are distinct in a UNIQUE
-- index, so the unlinked events of earlier versions do not collide.
CREATE UNIQUE INDEX {p}audit_chain_idx ON {p}audit_events (chain_id, chain_seq);
