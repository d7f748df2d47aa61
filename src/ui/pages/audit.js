// /audit?org=: the organization's audit log (org admins; the API refuses anyone else), with filters and an export
// of what is shown as CSV or JSON.
import { h, replace, loading, errorBox } from '../lib/dom.js';
import { mountLayout, pageHeader } from '../lib/layout.js';
import { requireUser } from '../lib/auth.js';

const PAGE = 100;

function csv(events) {
  const cols = ['time', 'actor', 'event', 'target', 'status', 'sourceIP'];
  const cell = (v) => `"${String(v ?? '').replace(/"/g, '""')}"`;
  const rows = events.map((e) => [new Date(e.timeMs).toISOString(), e.user && e.user.githubLogin, e.event, e.target, e.status, e.sourceIP].map(cell).join(','));
  return [cols.join(','), ...rows].join('\n') + '\n';
}

function download(name, type, text) {
  const a = h('a', { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
}

export async function render(cfg) {
  document.title = 'Audit log · Procella';
  const { main, setUser } = mountLayout(cfg, { active: 'audit' });
  const { user, api } = await requireUser(cfg, main);
  setUser(user);
  const org = (cfg.params && cfg.params.org) || (((user && user.organizations) || [])[0] || {}).githubLogin;
  const actor = h('input', { id: 'audit-actor', placeholder: 'actor (login)', 'aria-label': 'Actor' });
  const action = h('input', { id: 'audit-action', placeholder: 'action (stack.delete)', 'aria-label': 'Action' });
  const since = h('input', { id: 'audit-since', type: 'date', 'aria-label': 'Since' });
  const apply = h('button', { id: 'audit-apply', class: 'btn', type: 'submit' }, 'Filter');
  const more = h('button', { id: 'audit-more', class: 'btn', type: 'button', hidden: true }, 'Older entries');
  const tbody = h('tbody', { id: 'audit-rows' });
  const status = h('p', { class: 'hint', id: 'audit-status' });
  let shown = [];
  let token = null;
  const form = h('form', { class: 'filters', id: 'audit-filters' }, actor, action, since, apply,
    h('button', { id: 'audit-csv', class: 'btn', type: 'button', onclick: () => download(`audit-${org}.csv`, 'text/csv', csv(shown)) }, 'CSV'),
    h('button', { id: 'audit-json', class: 'btn', type: 'button', onclick: () => download(`audit-${org}.json`, 'application/json', JSON.stringify(shown, null, 2)) }, 'JSON'));
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
    h('thead', null, h('tr', null, ['Time', 'Actor', 'Action', 'Target', 'Status', 'IP'].map((c) => h('th', null, c)))), tbody));
  replace(main, pageHeader('Audit log', h('span', { class: 'muted', id: 'audit-org' }, org || '')), form, table, more, status);

  async function load(reset) {
    if (reset) { shown = []; token = null; tbody.replaceChildren(); }
    status.replaceChildren(loading());
    const params = { pageSize: PAGE, continuationToken: token, actor: actor.value.trim(), action: action.value.trim() };
    if (since.value) params.startTime = Math.floor(Date.parse(since.value) / 1000);
    try {
      const res = await api.get(`/api/orgs/${encodeURIComponent(org)}/auditlogs`, params);
      const events = (res && res.auditLogEvents) || [];
      shown.push(...events);
      for (const e of events) {
        tbody.append(h('tr', { 'data-testid': 'audit-row', dataset: { event: e.event, actor: (e.user && e.user.githubLogin) || '' } },
          h('td', { class: 'nowrap' }, new Date(e.timeMs).toLocaleString()), h('td', null, (e.user && e.user.githubLogin) || '—'),
          h('td', { class: 'mono' }, e.event), h('td', { class: 'mono' }, e.target || ''), h('td', { class: 'num' }, String(e.status)),
          h('td', { class: 'mono muted' }, e.sourceIP || '')));
      }
      token = res && res.continuationToken;
      more.hidden = !token;
      status.textContent = `${shown.length} entr${shown.length === 1 ? 'y' : 'ies'}.`;
    } catch (e) {
      status.replaceChildren(errorBox(e.message, 'page-error'));
    }
  }
  form.addEventListener('submit', (e) => { e.preventDefault(); load(true); });
  more.addEventListener('click', () => load(false));
  await load(true);
}
