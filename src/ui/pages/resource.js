// /stacks/{org}/{project}/{stack}/resources?urn=: one resource of the stack's latest state: what it is, where it
// sits (provider, parent, dependencies, each a link), its inputs and outputs with secrets masked (never decrypted
// here), and the last update that changed it.
import { h, replace, loading, errorBox, section, stackPath, seg, timeEl } from '../lib/dom.js';
import { mountLayout } from '../lib/layout.js';
import { requireUser } from '../lib/auth.js';
import { urnName } from '../lib/values.js';
import { breadcrumbs, valueCell } from './stack.js';

export function resourcePath(org, project, stack, urn) {
  return `${stackPath(org, project, stack)}/resources?urn=${encodeURIComponent(urn)}`;
}

const byKey = ([a], [b]) => (a < b ? -1 : a > b ? 1 : 0);

function properties(title, id, values) {
  const entries = Object.entries(values || {}).sort(byKey);
  return section(title, id, entries.length
    ? h('table', { class: 'table kv' }, h('tbody', null, entries.map(([k, v]) => h('tr', { 'data-testid': `${id}-row`, dataset: { key: k } },
      h('th', { scope: 'row' }, k), h('td', null, valueCell(v))))))
    : h('p', { class: 'muted' }, 'None.'));
}

/** The newest update that ran when the resource was last modified. */
function lastChange(resource, updates) {
  const t = Date.parse(resource.modified || resource.created || '') / 1000;
  if (!Number.isFinite(t)) return null;
  const ran = updates.filter((u) => u.startTime != null && u.startTime <= t + 1 && (u.endTime == null || u.endTime + 1 >= t));
  return ran.sort((a, b) => (b.version || 0) - (a.version || 0))[0] || null;
}

export async function render(cfg) {
  const { org, project, stack, urn } = cfg.params || {};
  document.title = `${urnName(urn) || 'Resource'} · ${stack || ''} · Procella`;
  const { main, setUser } = mountLayout(cfg, { active: 'stacks' });
  const { user, api } = await requireUser(cfg, main);
  setUser(user);
  const crumbs = breadcrumbs(org, project, stack, h('span', null, urnName(urn)));
  if (!org || !project || !stack || !urn) {
    replace(main, crumbs, errorBox('Missing resource URN.', 'page-error'));
    return;
  }
  replace(main, crumbs, h('h1', { id: 'page-title' }, urnName(urn)), loading());
  const base = `/api/stacks/${seg(org)}/${seg(project)}/${seg(stack)}`;
  const [exp, hist] = await Promise.allSettled([api.get(`${base}/export`), api.get(`${base}/updates`, { pageSize: 100, page: 1 })]);
  if (exp.status === 'rejected') {
    replace(main, crumbs, errorBox(exp.reason.message, 'page-error'));
    return;
  }
  const resources = (exp.value && exp.value.deployment && exp.value.deployment.resources) || [];
  const r = resources.find((x) => x.urn === urn);
  if (!r) {
    replace(main, crumbs, h('h1', { id: 'page-title' }, urnName(urn)), errorBox('This resource is not in the stack\'s latest state.', 'page-error'));
    return;
  }
  const known = new Set(resources.map((x) => x.urn));
  const link = (u, testid) => (known.has(u)
    ? h('a', { href: resourcePath(org, project, stack, u), 'data-testid': testid, class: 'mono' }, urnName(u))
    : h('span', { class: 'mono', 'data-testid': testid }, u));
  const provider = r.provider ? r.provider.slice(0, r.provider.lastIndexOf('::')) : null;
  const deps = r.dependencies || [];
  const children = resources.filter((x) => x.parent === urn);
  const updates = hist.status === 'fulfilled' ? ((hist.value && hist.value.updates) || []) : [];
  const changed = lastChange(r, updates);
  const changedId = changed && (changed.updateID || changed.updateId || changed.id);

  const facts = [
    ['Type', h('span', { class: 'mono', id: 'resource-type' }, r.type || '')],
    ['URN', h('span', { class: 'mono urn', id: 'resource-urn' }, r.urn)],
    ['ID', h('span', { class: 'mono', id: 'resource-id' }, r.id || '—')],
    ['Provider', provider ? link(provider, 'resource-provider') : '—'],
    ['Parent', r.parent ? link(r.parent, 'resource-parent') : '—'],
    ['Last changed by', changed
      ? h('span', null, h('a', { href: `${stackPath(org, project, stack)}/updates/${seg(changedId)}`, id: 'resource-last-update' }, `update #${changed.version}`),
        ' ', timeEl(changed.startTime, ''))
      : h('span', { class: 'muted', id: 'resource-last-update' }, 'unknown')],
  ];
  replace(main, crumbs,
    h('div', { class: 'page-header' }, h('h1', { id: 'page-title' }, urnName(urn)), h('div', { class: 'meta' }, r.custom === false ? 'component' : 'custom resource')),
    section('Resource', 'resource-facts', h('table', { class: 'table kv' }, h('tbody', null, facts.map(([k, v]) => h('tr', null, h('th', { scope: 'row' }, k), h('td', null, v)))))),
    section(`Dependencies (${deps.length})`, 'resource-dependencies', deps.length
      ? h('ul', { class: 'links' }, deps.map((d) => h('li', null, link(d, 'dependency'))))
      : h('p', { class: 'muted' }, 'None.')),
    children.length ? section(`Children (${children.length})`, 'resource-children',
      h('ul', { class: 'links' }, children.map((c) => h('li', null, link(c.urn, 'child'))))) : null,
    h('div', { class: 'grid-2' }, properties('Inputs', 'inputs', r.inputs), properties('Outputs', 'outputs', r.outputs)));
}
