-- A journaled export item that this tool deleted keeps its row for a while, marked with the time
-- of the deletion: portal search lags behind writes, so a scan started just after the deletion may
-- still list the item, and the backup leaves it out by its journaled title only while the row is
-- there. Rows deleted more than a grace period ago are purged by the next backup's sweep.
ALTER TABLE export_journal ADD COLUMN deleted_ms INTEGER;
