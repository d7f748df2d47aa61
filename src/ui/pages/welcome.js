// /welcome/cli: where the Pulumi CLI sends the browser after a browser login.
import { h, replace } from '../lib/dom.js';
import { mountLayout } from '../lib/layout.js';

export async function render(cfg) {
  document.title = 'Logged in · Procella';
  const { main } = mountLayout(cfg, { nav: false, narrow: true });
  replace(main, h('section', { class: 'card welcome', id: 'welcome' },
    h('div', { class: 'check', 'aria-hidden': 'true' }, '✓'),
    h('h1', null, 'You are logged in. Return to your terminal.'),
    h('p', { class: 'muted' }, 'The Pulumi CLI now has a token for this server. You can close this tab.'),
    h('p', null, h('a', { href: '/', id: 'dashboard-link', class: 'btn' }, 'Open the dashboard'))));
}
