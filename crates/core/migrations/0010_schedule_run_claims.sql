-- A claimed slot records the process that claimed it (process id, host, the OS's start time of
-- the process, as job leases do) and when its run ended, so that a slot whose process died
-- before its job finished is found (core::schedule, "abandoned" slots): it is run again once
-- while it is inside the catch-up window (`reruns` counts that), or recorded missed with the
-- reason. `note` says which of the two happened, for `schedule list` and the app.
ALTER TABLE schedule_runs ADD COLUMN claim_pid INTEGER;
ALTER TABLE schedule_runs ADD COLUMN claim_host TEXT;
ALTER TABLE schedule_runs ADD COLUMN claim_pid_start TEXT;
ALTER TABLE schedule_runs ADD COLUMN ended_ms INTEGER;
ALTER TABLE schedule_runs ADD COLUMN reruns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE schedule_runs ADD COLUMN note TEXT;
-- Slots dealt with before this migration are taken as ended: nothing can prove otherwise.
UPDATE schedule_runs SET ended_ms = claimed_ms;
