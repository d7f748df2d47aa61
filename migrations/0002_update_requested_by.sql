-- Who asked for an update (the caller's login), shown in the dashboard's history.
ALTER TABLE updates ADD COLUMN requested_by TEXT;
