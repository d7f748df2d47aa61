// A page the worker could not serve as asked (bad parameters and the like).
import { h, replace } from '../lib/dom.js';
import { mountLayout } from '../lib/layout.js';

export async function render(cfg) {
  document.title = 'Error · Procella';
  const { main } = mountLayout(cfg, { nav: false, narrow: true });
  replace(main, h('section', { class: 'card', id: 'error-card' },
    h('h1', null, 'Something went wrong'),
    h('div', { class: 'alert alert-error', id: 'page-error', role: 'alert' }, cfg.error || 'Unknown error.'),
    h('p', null, h('a', { href: '/', id: 'dashboard-link' }, 'Back to the dashboard'))));
}
