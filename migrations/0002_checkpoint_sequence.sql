-- The sequence number of the last checkpoint stored for an update: the idempotency key of the CLI's retried
-- checkpointverbatim/checkpointdelta uploads (0: none yet, or uploads without numbers).
ALTER TABLE updates ADD COLUMN checkpoint_seq INTEGER NOT NULL DEFAULT 0;
