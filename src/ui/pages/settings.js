// /settings: organization administration: Users, Roles, Audit Log and Tenant through Descope widgets (descope
// mode), and the OIDC issuers CI pipelines log in through (both modes).
// The API decides who may see it (403 for non-admins); the page only shows its answer.
import { h, replace, loading, errorBox } from '../lib/dom.js';
import { mountLayout, pageHeader } from '../lib/layout.js';
import { requireUser } from '../lib/auth.js';
import { tabs } from '../lib/tabs.js';
import { widgetPanel } from '../lib/widgets.js';
import { oidcPanel } from '../lib/oidc-issuers.js';

async function chooseOrg(cfg, user, api) {
  const fromQuery = new URLSearchParams(location.search).get('org');
  if (cfg.params && cfg.params.org) return cfg.params.org;
  if (fromQuery) return fromQuery;
  try {
    const def = await api.get('/api/user/organizations/default');
    if (def && def.githubLogin) return def.githubLogin;
  } catch {
    /* fall through to the first organization */
  }
  const orgs = (user && user.organizations) || [];
  return orgs.length ? orgs[0].githubLogin : null;
}

function orgPicker(user, org) {
  const orgs = ((user && user.organizations) || []).map((o) => o.githubLogin);
  if (orgs.length < 2) return h('span', { class: 'muted', id: 'settings-org-name' }, org);
  const select = h('select', { id: 'settings-org', 'aria-label': 'Organization' },
    orgs.map((o) => h('option', { value: o, selected: o === org }, o)));
  select.addEventListener('change', () => location.assign(`/settings?org=${encodeURIComponent(select.value)}`));
  return select;
}

export async function render(cfg) {
  document.title = 'Settings · Procella';
  const { main, setUser } = mountLayout(cfg, { active: 'settings' });
  const { user, api } = await requireUser(cfg, main);
  setUser(user);
  replace(main, pageHeader('Settings'), loading());

  const org = await chooseOrg(cfg, user, api);
  const header = pageHeader('Settings', org ? orgPicker(user, org) : null);
  if (!org) {
    replace(main, header, errorBox('You are not a member of any organization.', 'page-error'));
    return;
  }

  let conf;
  try {
    conf = await api.get('/api/console/settings', { org });
  } catch (e) {
    if (e.status === 403) {
      replace(main, header, h('section', { class: 'card denied' },
        h('p', { id: 'settings-denied', class: 'strong' }, 'Settings are for organization admins'),
        h('p', { id: 'settings-denied-reason', class: 'muted' }, e.message)));
    } else {
      replace(main, header, errorBox(e.message, 'page-error'));
    }
    return;
  }

  const oidc = { key: 'oidc', label: 'OIDC', render: (p) => oidcPanel(p, api, org) };
  const projectId = conf && conf.projectId;
  if (conf.mode !== 'descope' || !projectId) {
    replace(main, header,
      h('section', { class: 'card', id: 'settings-unavailable' },
        h('p', null, conf.mode !== 'descope'
          ? 'Users and roles need descope mode; in dev mode they come from PROCELLA_DEV_USERS.'
          : 'Users and roles are not configured: the server has no Descope project ID.')),
      h('section', { class: 'card', id: 'settings' }, tabs([oidc], { id: 'settings-tabs' })));
    return;
  }
  const widgets = (conf && conf.widgets) || {};
  const opts = (widgetId, testId) => ({ projectId, baseUrl: conf.baseUrl || cfg.descopeBaseUrl, tenant: conf.tenantId, widgetId, testId });
  replace(main, header, h('section', { class: 'card', id: 'settings' }, tabs([
    { key: 'users', label: 'Users', render: (p) => widgetPanel(p, () => import('../descope/widget-users.js'), opts(widgets.users, 'user-management-widget'), 'user management') },
    { key: 'roles', label: 'Roles', render: (p) => widgetPanel(p, () => import('../descope/widget-roles.js'), opts(widgets.roles, 'role-management-widget'), 'role management') },
    { key: 'audit', label: 'Audit Log', render: (p) => widgetPanel(p, () => import('../descope/widget-audit.js'), opts(widgets.audit, 'audit-management-widget'), 'audit log') },
    { key: 'tenant', label: 'Tenant', render: (p) => widgetPanel(p, () => import('../descope/widget-tenant.js'), opts(widgets.tenant, 'tenant-profile-widget'), 'tenant profile') },
    oidc,
  ], { id: 'settings-tabs' })));
}
