// /tokens: the user's own Descope access keys (API Tokens) and profile, through Descope widgets.
import { h, replace, loading, errorBox } from '../lib/dom.js';
import { mountLayout, pageHeader } from '../lib/layout.js';
import { requireUser } from '../lib/auth.js';
import { tabs } from '../lib/tabs.js';
import { widgetPanel } from '../lib/widgets.js';

export async function render(cfg) {
  document.title = 'Tokens · Procella';
  const { main, setUser } = mountLayout(cfg, { active: 'tokens' });
  const { user, api } = await requireUser(cfg, main);
  setUser(user);
  const header = pageHeader('Tokens');

  if (cfg.mode !== 'descope') {
    replace(main, header, h('section', { class: 'card', id: 'tokens-unavailable' },
      h('p', null, 'Token management needs descope mode; in dev mode tokens come from PROCELLA_DEV_USERS.'),
      h('p', { class: 'muted' }, 'Use your dev token as PULUMI_ACCESS_TOKEN, or log in the CLI with ', h('code', null, `pulumi login ${location.origin}`), '.')));
    return;
  }

  replace(main, header, loading());
  let conf;
  try {
    conf = await api.get('/api/console/tokens');
  } catch (e) {
    replace(main, header, errorBox(e.message, 'page-error'));
    return;
  }
  const projectId = (conf && conf.projectId) || cfg.projectId;
  const baseUrl = (conf && conf.baseUrl) || cfg.descopeBaseUrl;
  const widgets = (conf && conf.widgets) || {};
  if (!projectId) {
    replace(main, header, h('section', { class: 'card', id: 'tokens-unavailable' },
      h('p', null, 'Token management is not configured: the server has no Descope project ID.')));
    return;
  }
  const opts = (widgetId, testId) => ({ projectId, baseUrl, tenant: conf.tenantId, widgetId, testId });
  replace(main, header,
    h('p', { class: 'muted intro' }, 'Access keys work as PULUMI_ACCESS_TOKEN for the Pulumi CLI and CI.'),
    h('section', { class: 'card', id: 'tokens' }, tabs([
      {
        key: 'api-tokens', label: 'API Tokens',
        render: (panel) => widgetPanel(panel, () => import('../descope/widget-access-keys.js'), opts(widgets.accessKeys, 'access-key-widget'), 'API tokens'),
      },
      {
        key: 'profile', label: 'Profile',
        render: (panel) => widgetPanel(panel, () => import('../descope/widget-user-profile.js'), opts(widgets.profile, 'user-profile-widget'), 'profile'),
      },
    ], { id: 'tokens-tabs' })));
}
