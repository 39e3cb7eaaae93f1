-- Whether a scan problem left the subject incompletely read (1) or was only a note (0): the
-- Scan and Backup screens mark the incomplete ones, and a backup whose selection holds only
-- such subjects is refused. Problems of scans made before this column are taken as notes.
ALTER TABLE scan_problems ADD COLUMN incomplete INTEGER NOT NULL DEFAULT 0;
