// Entry point: reads the page configuration from the HTML shell and renders that page.
// Pages are plain DOM; the Descope packages load in their own chunks, only where a page needs them.
import { readConfig } from './lib/config.js';
import { h, replace } from './lib/dom.js';
import { signOut } from './lib/session.js';
import * as cliLogin from './pages/cli-login.js';
import * as welcome from './pages/welcome.js';
import * as stacks from './pages/stacks.js';
import * as stack from './pages/stack.js';
import * as update from './pages/update.js';
import * as tokens from './pages/tokens.js';
import * as settings from './pages/settings.js';
import * as resource from './pages/resource.js';
import * as audit from './pages/audit.js';
import * as error from './pages/error.js';

const PAGES = {
  'cli-login': cliLogin, welcome, stacks, stack, update, resource, tokens, settings, audit, error,
};

function fail(cfg, err) {
  // eslint-disable-next-line no-console
  console.error(err);
  const main = document.getElementById('main') || document.getElementById('app') || document.body;
  replace(main,
    h('div', { class: 'alert alert-error', id: 'page-error', role: 'alert' }, (err && err.message) || String(err)),
    h('p', null, h('a', { href: '/', id: 'error-sign-out', onclick: (e) => { e.preventDefault(); signOut(cfg); } }, 'Sign out'), ' and try another account.'));
}

function start() {
  const cfg = readConfig();
  document.documentElement.dataset.page = cfg.page;
  Promise.resolve()
    .then(() => (cfg.error ? error : PAGES[cfg.page]).render(cfg))
    .catch((err) => fail(cfg, err));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start, { once: true });
else start();
