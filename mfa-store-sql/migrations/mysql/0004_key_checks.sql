-- One check value per key of the key ring (kind 'aead_key', key_id = the
-- key's id) and for the root secret (kind 'root_secret', key_id 0), written
-- when the key is first used with this store and compared with the key ring
-- at every start. No CHECK on `kind`: an older engine must not refuse the
-- rows of a newer one (it leaves kinds it does not know out).
CREATE TABLE {p}key_checks (
    kind VARCHAR(32) NOT NULL,
    key_id BIGINT NOT NULL CHECK (key_id BETWEEN 0 AND 4294967295),
    check_value BLOB NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (kind, key_id)
) ENGINE=InnoDB;
