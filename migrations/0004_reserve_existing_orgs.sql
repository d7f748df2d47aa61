-- Organizations that had stacks before migration 0003 have no tenant binding, so the first tenant to claim such a
-- slug (by a tenant name, say) would own those stacks. Reserve each one instead: its row names no tenant
-- ('reserved:<slug>'), and the worker hands it over only to a tenant named for it in `procellaOrgs` of an access
-- key this backend made (the keys its users already hold). An operator can also bind one by hand:
--   UPDATE org_tenants SET tenant_id = '<tenant id>' WHERE slug = '<slug>' AND tenant_id = 'reserved:<slug>';
INSERT OR IGNORE INTO org_tenants (slug, tenant_id, created_at)
SELECT DISTINCT org, 'reserved:' || org, CAST(strftime('%s', 'now') AS INTEGER)
FROM stacks
WHERE org NOT IN (SELECT slug FROM org_tenants);
