-- query_audit by kind, newest first: an engine instance starting up reads
-- the newest audit checkpoints (a few among millions of events) to vouch
-- for the chains of the instances before it (`mfa_core::audit`, anchors).
CREATE INDEX {p}audit_kind_idx ON {p}audit_events (kind, at, id);
