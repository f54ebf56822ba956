-- Refresh-token reuse grace: a rotation made with a grace interval keeps
-- the new token, sealed by the engine's key ring, on the token it rotated,
-- with the end of the interval; a retry of the rotated token within it
-- gets the same new token. Cleared when the new token is rotated in turn.
ALTER TABLE {p}refresh_tokens ADD COLUMN grace_successor BYTEA,
    ADD COLUMN grace_until TIMESTAMPTZ;
-- rotate_refresh_token: a retry within grace reads the rotated token's child.
CREATE INDEX {p}refresh_tokens_parent_idx ON {p}refresh_tokens (parent_id);
