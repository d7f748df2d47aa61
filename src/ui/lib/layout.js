// Page frame: top bar (brand, nav, current user, sign out) and the main column.
import { h, replace } from './dom.js';
import { signOut } from './session.js';

const NAV = [
  ['stacks', 'Stacks', '/'],
  ['tokens', 'Tokens', '/tokens'],
  ['settings', 'Settings', '/settings'],
  ['audit', 'Audit log', '/audit'],
];

/**
 * Mounts the frame in #app and returns { main, setUser }.
 * `nav`: show the dashboard links (not on the CLI login pages); `active`: the current nav item.
 */
export function mountLayout(cfg, { nav = true, active = null, narrow = false } = {}) {
  const userMenu = h('div', { class: 'user-menu', id: 'user-menu' });
  const links = nav
    ? h('nav', { class: 'nav', id: 'nav', 'aria-label': 'Main' },
      NAV.map(([key, label, href]) => h('a', {
        href, id: `nav-${key}`, class: key === active ? 'active' : null, 'aria-current': key === active ? 'page' : null,
      }, label)))
    : null;
  const header = h('header', { class: 'topbar' },
    h('div', { class: 'topbar-inner' },
      h('a', { class: 'brand', href: '/', id: 'brand' }, h('span', { class: 'brand-mark', 'aria-hidden': 'true' }), 'Procella'),
      links,
      userMenu));
  const main = h('main', { class: narrow ? 'main narrow' : 'main', id: 'main' });
  const app = document.getElementById('app') || document.body.appendChild(h('div', { id: 'app' }));
  replace(app, header, main);

  function setUser(user) {
    const label = (user && (user.name || user.githubLogin)) || '';
    replace(userMenu,
      h('span', { class: 'current-user', id: 'current-user', title: user && user.email ? user.email : null }, label),
      h('a', {
        href: '#', id: 'sign-out', class: 'sign-out',
        onclick: (e) => {
          e.preventDefault();
          signOut(cfg);
        },
      }, 'Sign out'));
  }

  return { main, setUser };
}

export function pageHeader(title, ...extra) {
  return h('div', { class: 'page-header' }, h('h1', { id: 'page-title' }, title), ...extra);
}
