-- A scheduled backup may be followed by a copy of its snapshot to another repository (issue 14,
-- docs/copy.md): the destination as given (a folder, az://..., s3://...; never a secret).
ALTER TABLE schedules ADD COLUMN copy_to TEXT;
