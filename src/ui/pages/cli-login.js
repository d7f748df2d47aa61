// /cli-login: hands the Pulumi CLI an access token through its local callback (127.0.0.1 only).
import { errorBox, h, replace } from '../lib/dom.js';
import { mountLayout } from '../lib/layout.js';
import { requireUser } from '../lib/auth.js';

/** The server validated these too; a second check here costs nothing and guards the redirect. */
export function callbackParams(params) {
  const p = params || {};
  const port = typeof p.port === 'string' && /^\d+$/.test(p.port) ? Number(p.port) : p.port;
  if (!Number.isInteger(port) || port < 1024 || port > 65535) return null;
  if (typeof p.nonce !== 'string' || !p.nonce) return null;
  return { port, nonce: p.nonce, description: typeof p.description === 'string' ? p.description : '' };
}

export function callbackUrl(port, token, nonce) {
  return `http://127.0.0.1:${port}/?accessToken=${encodeURIComponent(token)}&nonce=${encodeURIComponent(nonce)}`;
}

export async function render(cfg) {
  document.title = 'Log in the Pulumi CLI · Procella';
  const { main, setUser } = mountLayout(cfg, { nav: false, narrow: true });
  const params = callbackParams(cfg.params);
  if (!params) {
    replace(main, errorBox('This CLI login link is not valid (bad port or nonce). Run `pulumi login` again.', 'page-error'));
    return;
  }

  if (cfg.mode === 'descope' && !cfg.browserLogin) {
    replace(main, unavailable());
    return;
  }

  const { token, user, api } = await requireUser(cfg, main);
  setUser(user);

  const name = user.name || user.githubLogin || '';
  const email = user.email || '';
  const error = h('div', { class: 'alert alert-error', id: 'login-error', role: 'alert', hidden: true });
  const cont = h('button', { type: 'button', id: 'continue', class: 'btn btn-primary btn-wide' }, 'Continue');
  const status = h('p', { class: 'hint', id: 'login-status', 'aria-live': 'polite' });
  const card = h('section', { class: 'card login-card', id: 'login-card' },
    h('h1', { id: 'login-title' },
      'Log in the Pulumi CLI as ',
      h('span', { id: 'user-name', class: 'strong' }, name),
      email ? [' (', h('span', { id: 'user-email' }, email), ')'] : null),
    h('dl', { class: 'facts' },
      h('dt', null, 'Session'),
      h('dd', { id: 'session-description' }, params.description || h('span', { class: 'muted' }, 'Pulumi CLI')),
      h('dt', null, 'Sends the token to'),
      h('dd', null, h('code', { id: 'callback-target' }, `127.0.0.1:${params.port}`), ' — the Pulumi CLI on this computer')),
    h('p', { class: 'hint' }, cfg.mode === 'descope'
      ? 'Continue creates a Descope access key for the CLI. You can revoke it later on the Tokens page.'
      : 'Continue gives the CLI your dev token.'),
    error,
    h('div', { class: 'actions' }, cont),
    status);
  replace(main, card);
  cont.focus();

  cont.addEventListener('click', async () => {
    cont.disabled = true;
    error.hidden = true;
    status.textContent = 'Creating a token for the CLI…';
    try {
      let accessToken = token;
      if (cfg.mode === 'descope') {
        const res = await api.post('/api/auth/cli-token', { description: params.description });
        accessToken = res && res.accessToken;
        if (!accessToken) throw new Error('The server returned no access token.');
      }
      status.textContent = 'Returning to the Pulumi CLI…';
      location.assign(callbackUrl(params.port, accessToken, params.nonce));
    } catch (e) {
      error.textContent = e.message || String(e);
      error.hidden = false;
      status.textContent = '';
      cont.disabled = false;
    }
  });
}

function unavailable() {
  const url = location.origin;
  return h('section', { class: 'card', id: 'browser-login-unavailable' },
    h('h1', null, 'Browser login is not configured'),
    h('p', null, 'This server runs with Descope but has no Descope management key (PROCELLA_DESCOPE_MANAGEMENT_KEY), so it cannot create an access key for the Pulumi CLI from the browser.'),
    h('p', null, 'Log in with an access key instead:'),
    h('ol', { class: 'steps' },
      h('li', null, 'Get a Descope access key (from the Tokens page of this dashboard, or from your Descope administrator).'),
      h('li', null, 'Stop the waiting command (Ctrl+C) and run ', h('code', null, `pulumi login ${url}`),
        ' again; paste the access key at the prompt instead of pressing Enter.'),
      h('li', null, 'Or, for scripts and CI, set ', h('code', null, 'PULUMI_ACCESS_TOKEN=<access key>'), ' and ',
        h('code', null, `PULUMI_BACKEND_URL=${url}`), '.')));
}
