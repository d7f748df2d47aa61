// / : the caller's stacks, grouped by organization.
import { h, replace, loading, errorBox, stackPath, timeEl } from '../lib/dom.js';
import { mountLayout, pageHeader } from '../lib/layout.js';
import { requireUser } from '../lib/auth.js';

// Bounded so a misbehaving continuation token cannot loop forever.
const MAX_PAGES = 100;

async function allStacks(api, organization) {
  const stacks = [];
  let continuationToken;
  for (let i = 0; i < MAX_PAGES; i++) {
    const res = await api.get('/api/user/stacks', { organization, continuationToken });
    stacks.push(...((res && res.stacks) || []));
    continuationToken = res && res.continuationToken;
    if (!continuationToken) break;
  }
  return stacks;
}

const byName = (a, b) => (a < b ? -1 : a > b ? 1 : 0);

export async function render(cfg) {
  document.title = 'Stacks · Procella';
  const { main, setUser } = mountLayout(cfg, { active: 'stacks' });
  const { user, api } = await requireUser(cfg, main);
  setUser(user);
  const organization = new URLSearchParams(location.search).get('organization') || undefined;
  replace(main, pageHeader('Stacks'), loading());

  let stacks;
  try {
    stacks = await allStacks(api, organization);
  } catch (e) {
    replace(main, pageHeader('Stacks'), errorBox(e.message, 'page-error'));
    return;
  }

  const groups = new Map();
  for (const s of stacks) {
    if (!groups.has(s.orgName)) groups.set(s.orgName, []);
    groups.get(s.orgName).push(s);
  }
  const orgNames = new Map(((user && user.organizations) || []).map((o) => [o.githubLogin, o.name]));

  const content = [];
  if (!stacks.length) {
    content.push(h('section', { class: 'card empty', id: 'no-stacks' },
      h('h2', null, 'No stacks yet'),
      h('p', null, 'Create one with ', h('code', null, `pulumi login ${location.origin}`), ' and ',
        h('code', null, 'pulumi stack init'), ', then ', h('code', null, 'pulumi up'), '.')));
  }
  for (const org of [...groups.keys()].sort(byName)) {
    const rows = groups.get(org).sort((a, b) => byName(a.projectName, b.projectName) || byName(a.stackName, b.stackName));
    const display = orgNames.get(org);
    content.push(h('section', { class: 'card', 'data-testid': 'org-group', dataset: { org } },
      h('h2', null, org, display && display !== org ? h('span', { class: 'muted' }, ` · ${display}`) : null,
        h('span', { class: 'count' }, String(rows.length))),
      h('table', { class: 'table stacks-table' },
        h('thead', null, h('tr', null, h('th', null, 'Project'), h('th', null, 'Stack'), h('th', null, 'Last update'), h('th', { class: 'num' }, 'Resources'))),
        h('tbody', null, rows.map((s) => h('tr', { 'data-testid': 'stack-row', dataset: { stack: `${s.orgName}/${s.projectName}/${s.stackName}` } },
          h('td', null, s.projectName),
          h('td', null, h('a', { href: stackPath(s.orgName, s.projectName, s.stackName), 'data-testid': 'stack-link' }, s.stackName)),
          h('td', { 'data-testid': 'stack-last-update' }, timeEl(s.lastUpdate)),
          h('td', { class: 'num', 'data-testid': 'stack-resource-count' }, s.resourceCount == null ? '—' : String(s.resourceCount))))))));
  }
  const search = h('input', { id: 'stack-search', type: 'search', placeholder: 'Search stacks by project or name', 'aria-label': 'Search stacks' });
  search.addEventListener('input', () => {
    const q = search.value.trim().toLowerCase();
    for (const row of main.querySelectorAll('[data-testid=stack-row]')) row.hidden = !!q && !row.dataset.stack.toLowerCase().includes(q);
  });
  replace(main, pageHeader('Stacks', h('span', { class: 'muted' }, `${stacks.length} stack${stacks.length === 1 ? '' : 's'}`)),
    stacks.length ? search : null, content);
}
