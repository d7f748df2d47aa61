// /stacks/{org}/{project}/{stack}: tags, outputs, resources of the latest checkpoint, update history.
import { h, replace, loading, errorBox, section, stackPath, timeEl, seg } from '../lib/dom.js';
import { mountLayout } from '../lib/layout.js';
import { requireUser } from '../lib/auth.js';
import { changeList, isSecret, redact, SECRET_TEXT, urnName, valueText } from '../lib/values.js';

export function breadcrumbs(org, project, stack, extra) {
  return h('nav', { class: 'breadcrumbs', 'aria-label': 'Breadcrumb' },
    h('a', { href: '/' }, 'Stacks'), ' / ', h('span', null, org), ' / ', h('span', null, project), ' / ',
    extra ? [h('a', { href: stackPath(org, project, stack), id: 'stack-link' }, stack), ' / ', extra] : h('span', null, stack));
}

export function resultBadge(result) {
  const r = String(result || 'unknown');
  const tone = { succeeded: 'ok', failed: 'bad', 'in-progress': 'info', running: 'info', cancelled: 'muted', 'not-started': 'muted' }[r] || 'muted';
  return h('span', { class: `badge badge-${tone}`, 'data-testid': 'result' }, r);
}

export function changeChips(changes) {
  const list = changeList(changes);
  if (!list.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'chips' }, list.map(([op, n]) => h('span', { class: `chip chip-${op}`, dataset: { op } }, `${op} ${n}`)));
}

export function valueCell(v) {
  if (isSecret(v)) return h('span', { class: 'secret', 'data-testid': 'secret' }, SECRET_TEXT);
  const r = redact(v);
  if (typeof r === 'string') return h('span', { class: 'value' }, r);
  return h('code', { class: 'value' }, valueText(v));
}

function tagsSection(stack) {
  const tags = Object.entries((stack && stack.tags) || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return section('Tags', 'stack-tags',
    tags.length
      ? h('table', { class: 'table kv' }, h('tbody', null, tags.map(([k, v]) => h('tr', { 'data-testid': 'tag-row', dataset: { key: k } },
        h('th', { scope: 'row' }, k), h('td', null, String(v))))))
      : h('p', { class: 'muted' }, 'No tags.'));
}

function outputsSection(resources) {
  const root = resources.find((r) => r.type === 'pulumi:pulumi:Stack');
  const outputs = Object.entries((root && root.outputs) || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return section('Outputs', 'stack-outputs',
    outputs.length
      ? h('table', { class: 'table kv' }, h('tbody', null, outputs.map(([k, v]) => h('tr', { 'data-testid': 'output-row', dataset: { key: k } },
        h('th', { scope: 'row' }, k), h('td', { 'data-testid': 'output-value' }, valueCell(v))))))
      : h('p', { class: 'muted' }, 'No outputs.'));
}

/** The resources as the component tree (children under their parents, each subtree collapsible), searchable
 * by name and type; every resource links to its page. */
function resourcesSection(org, project, stack, resources) {
  if (!resources.length) {
    return section('Resources (0)', 'stack-resources', h('p', { class: 'muted', id: 'no-resources' }, 'This stack has no resources.'));
  }
  const known = new Set(resources.map((r) => r.urn));
  const children = new Map();
  for (const r of resources) {
    const parent = r.parent && known.has(r.parent) ? r.parent : '';
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(r);
  }
  const href = (urn) => `${stackPath(org, project, stack)}/resources?urn=${encodeURIComponent(urn)}`;
  const node = (r) => {
    const line = h('div', { class: 'tree-line', 'data-testid': 'resource-row', dataset: { urn: r.urn, search: `${urnName(r.urn)} ${r.type || ''}`.toLowerCase() } },
      h('a', { href: href(r.urn), 'data-testid': 'resource-link' }, urnName(r.urn)), ' ', h('span', { class: 'mono muted' }, r.type || ''));
    const kids = children.get(r.urn) || [];
    if (!kids.length) return h('li', null, line);
    return h('li', null, h('details', { open: true }, h('summary', null, line), h('ul', { class: 'tree' }, kids.map(node))));
  };
  const tree = h('ul', { class: 'tree', id: 'resource-tree' }, (children.get('') || []).map(node));
  const search = h('input', { id: 'resource-search', type: 'search', placeholder: 'Search by name or type', 'aria-label': 'Search resources' });
  search.addEventListener('input', () => {
    const q = search.value.trim().toLowerCase();
    // A resource shows when it or anything under it matches, so a match keeps its place in the tree.
    const visit = (li) => {
      const line = li.querySelector('.tree-line');
      const sub = [...li.querySelectorAll(':scope > details > ul > li')].map(visit).some(Boolean);
      const shown = !q || line.dataset.search.includes(q) || sub;
      li.hidden = !shown;
      return shown;
    };
    [...tree.children].forEach(visit);
  });
  return section(`Resources (${resources.length})`, 'stack-resources', search, tree);
}

function historySection(org, project, stack, updates) {
  return section('Update history', 'stack-history',
    updates.length
      ? h('div', { class: 'table-wrap' }, h('table', { class: 'table' },
        h('thead', null, h('tr', null, h('th', { class: 'num' }, 'Version'), h('th', null, 'Kind'), h('th', null, 'Result'),
          h('th', null, 'Changes'), h('th', null, 'By'), h('th', null, 'When'), h('th', null, 'Message'))),
        h('tbody', null, updates.map((u) => {
          const id = u.updateID || u.updateId || u.id;
          const href = id ? `${stackPath(org, project, stack)}/updates/${seg(id)}` : null;
          const who = u.requestedBy && (u.requestedBy.githubLogin || u.requestedBy.name);
          return h('tr', { 'data-testid': 'history-row', dataset: { version: u.version, updateId: id, kind: u.kind, result: u.result } },
            h('td', { class: 'num' }, href ? h('a', { href, 'data-testid': 'history-link' }, `#${u.version ?? '?'}`) : `#${u.version ?? '?'}`),
            h('td', null, u.kind || ''),
            h('td', null, resultBadge(u.result)),
            h('td', null, changeChips(u.resourceChanges)),
            h('td', null, who || h('span', { class: 'muted' }, '—')),
            h('td', null, timeEl(u.startTime, '—')),
            h('td', { class: 'message' }, u.message || ''));
        }))))
      : h('p', { class: 'muted', id: 'no-history' }, 'No updates yet.'));
}

export async function render(cfg) {
  const { org, project, stack } = cfg.params || {};
  document.title = `${stack || 'Stack'} · Procella`;
  const { main, setUser } = mountLayout(cfg, { active: 'stacks' });
  const { user, api } = await requireUser(cfg, main);
  setUser(user);
  if (!org || !project || !stack) {
    replace(main, errorBox('Missing stack name.', 'page-error'));
    return;
  }
  const base = `/api/stacks/${seg(org)}/${seg(project)}/${seg(stack)}`;
  replace(main, breadcrumbs(org, project, stack), h('h1', { id: 'page-title' }, stack), loading());

  const [info, exp, hist] = await Promise.allSettled([
    api.get(base),
    api.get(`${base}/export`),
    api.get(`${base}/updates`, { pageSize: 50, page: 1 }),
  ]);
  if (info.status === 'rejected') {
    replace(main, breadcrumbs(org, project, stack), h('h1', { id: 'page-title' }, stack), errorBox(info.reason.message, 'page-error'));
    return;
  }
  const s = info.value || {};
  const resources = exp.status === 'fulfilled'
    ? ((exp.value && exp.value.deployment && exp.value.deployment.resources) || [])
    : null;
  const updates = hist.status === 'fulfilled' ? ((hist.value && hist.value.updates) || []) : null;

  const meta = h('div', { class: 'meta' },
    s.version != null ? h('span', null, `Version ${s.version}`) : null,
    s.activeUpdate
      ? h('a', { href: `${stackPath(org, project, stack)}/updates/${seg(s.activeUpdate)}`, class: 'badge badge-info', id: 'active-update' }, 'Update in progress')
      : null);

  replace(main,
    breadcrumbs(org, project, stack),
    h('div', { class: 'page-header' }, h('h1', { id: 'page-title' }, stack), meta),
    h('div', { class: 'grid-2' },
      tagsSection(s),
      resources ? outputsSection(resources) : section('Outputs', 'stack-outputs', errorBox(exp.reason.message))),
    resources ? resourcesSection(org, project, stack, resources) : section('Resources', 'stack-resources', errorBox(exp.reason.message)),
    updates ? historySection(org, project, stack, updates) : section('Update history', 'stack-history', errorBox(hist.reason.message)));
}
