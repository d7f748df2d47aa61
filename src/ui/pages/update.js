// /stacks/{org}/{project}/{stack}/updates/{updateID}: the engine event log of one update.
import { h, replace, loading, errorBox, section, seg, clock, timeEl } from '../lib/dom.js';
import { mountLayout } from '../lib/layout.js';
import { requireUser } from '../lib/auth.js';
import { changeText, urnName } from '../lib/values.js';
import { breadcrumbs, changeChips, resultBadge } from './stack.js';

const MAX_PAGES = 500;

// Pulumi colour markup (`<{%reset%}>`, `<{%fg 2%}>`) and ANSI escapes carry no meaning here.
const COLOR_TAGS = /<\{%[^%]*%\}>/g;
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*[A-Za-z]/g;
const clean = (s) => String(s == null ? '' : s).replace(COLOR_TAGS, '').replace(ANSI, '').replace(/\s+$/, '');

const OP_DONE = {
  create: 'created', update: 'updated', delete: 'deleted', replace: 'replaced', same: 'unchanged', read: 'read',
  refresh: 'refreshed', import: 'imported', 'create-replacement': 'created replacement', 'delete-replaced': 'deleted replaced',
  discard: 'discarded',
};

function resource(meta) {
  const m = meta || {};
  return { op: m.op || '?', urn: m.urn || '', type: m.type || '' };
}

/** [kind, text] for one engine event. */
export function describe(ev) {
  if (ev.diagnosticEvent) {
    const d = ev.diagnosticEvent;
    const where = d.urn ? ` (${urnName(d.urn)})` : '';
    return ['diagnostic', `${d.severity || 'info'}${where}: ${clean(d.message)}`, d.severity];
  }
  if (ev.resourcePreEvent) {
    const r = resource(ev.resourcePreEvent.metadata);
    return ['resource-pre', `${r.op} ${r.urn}`];
  }
  if (ev.resOutputsEvent) {
    const r = resource(ev.resOutputsEvent.metadata);
    return ['res-outputs', `${OP_DONE[r.op] || r.op} ${r.urn}`];
  }
  if (ev.resOpFailedEvent) {
    const r = resource(ev.resOpFailedEvent.metadata);
    return ['res-op-failed', `failed to ${r.op} ${r.urn}`, 'error'];
  }
  if (ev.summaryEvent) {
    const s = ev.summaryEvent;
    const changes = changeText(s.resourceChanges) || 'no changes';
    const took = s.durationSeconds != null ? ` in ${s.durationSeconds}s` : '';
    return ['summary', `Summary: ${changes}${took}`];
  }
  if (ev.preludeEvent) {
    const n = Object.keys((ev.preludeEvent && ev.preludeEvent.config) || {}).length;
    return ['prelude', `Started (${n} config value${n === 1 ? '' : 's'})`];
  }
  if (ev.stdoutEvent) return ['stdout', clean(ev.stdoutEvent.message)];
  if (ev.policyEvent) {
    const p = ev.policyEvent;
    return ['policy', `policy ${p.policyName || ''} (${p.enforcementLevel || ''}): ${clean(p.message)}`, 'warning'];
  }
  if (ev.cancelEvent) return ['cancel', 'Cancelled'];
  if (ev.errorEvent) {
    // The engine's `{"error": "..."}`; anything else it carries is shown rather than dropped.
    const e = ev.errorEvent;
    return ['error', typeof e.error === 'string' ? clean(e.error) : JSON.stringify(e), 'error'];
  }
  // A kind this page does not know (a newer CLI's) is shown as its JSON, never as a blank row.
  const key = Object.keys(ev).find((k) => k.endsWith('Event'));
  if (key) return [key.replace(/Event$/, ''), JSON.stringify(ev[key])];
  const rest = Object.fromEntries(Object.entries(ev).filter(([k]) => k !== 'sequence' && k !== 'timestamp'));
  return ['event', JSON.stringify(rest)];
}

function eventRow(ev) {
  const [kind, text, severity] = describe(ev);
  return h('tr', { 'data-testid': 'event-row', class: `ev ev-${kind}${severity ? ` sev-${severity}` : ''}`, dataset: { kind, sequence: ev.sequence } },
    h('td', { class: 'num muted' }, ev.sequence == null ? '' : String(ev.sequence)),
    h('td', { class: 'mono muted nowrap' }, clock(ev.timestamp)),
    h('td', null, h('span', { class: 'kind' }, kind)),
    h('td', { class: 'mono event-text' }, text));
}

/** Steps started and done, from the resource events, and the operations under way. */
function progressTracker() {
  const started = new Map(); // urn -> op
  const done = new Set();
  const bar = h('progress', { id: 'update-progress', max: '1', value: '0' });
  const text = h('span', { id: 'progress-text', class: 'muted' }, '');
  const current = h('ul', { id: 'current-ops', class: 'current-ops' });
  const node = h('div', { class: 'progress', id: 'progress' }, bar, text, current);
  node.hidden = true;
  function render() {
    node.hidden = started.size === 0;
    bar.max = Math.max(started.size, 1);
    bar.value = done.size;
    bar.dataset.done = String(done.size);
    bar.dataset.planned = String(started.size);
    text.textContent = `${done.size} of ${started.size} step${started.size === 1 ? '' : 's'} done`;
    const running = [...started].filter(([urn]) => !done.has(urn));
    current.replaceChildren(...running.map(([urn, op]) => h('li', { class: 'mono' }, `${op} ${urnName(urn)}`)));
  }
  return {
    node,
    add(ev) {
      const pre = ev.resourcePreEvent && ev.resourcePreEvent.metadata;
      const out = (ev.resOutputsEvent || ev.resOpFailedEvent || {}).metadata;
      if (pre && pre.urn) started.set(pre.urn, pre.op || '?');
      if (out && out.urn) {
        if (!started.has(out.urn)) started.set(out.urn, out.op || '?');
        done.add(out.urn);
      }
      render();
    },
  };
}

export async function render(cfg) {
  const { org, project, stack, updateId } = cfg.params || {};
  document.title = `Update · ${stack || ''} · Procella`;
  const { main, setUser } = mountLayout(cfg, { active: 'stacks' });
  const { user, api } = await requireUser(cfg, main);
  setUser(user);
  if (!org || !project || !stack || !updateId) {
    replace(main, errorBox('Missing update ID.', 'page-error'));
    return;
  }
  const stackApi = `/api/stacks/${seg(org)}/${seg(project)}/${seg(stack)}`;
  const updateApi = `${stackApi}/update/${seg(updateId)}`;
  const crumbs = breadcrumbs(org, project, stack, h('span', null, 'update'));
  const title = h('h1', { id: 'page-title' }, 'Update');
  const summary = h('div', { class: 'meta', id: 'update-meta' });
  const tbody = h('tbody', { id: 'event-rows' });
  const status = h('p', { class: 'hint', id: 'events-status', 'aria-live': 'polite' });
  const progress = progressTracker();
  const table = h('div', { class: 'table-wrap' }, h('table', { class: 'table events' },
    h('thead', null, h('tr', null, h('th', { class: 'num' }, '#'), h('th', null, 'Time'), h('th', null, 'Event'), h('th', null, 'Details'))),
    tbody));
  replace(main, crumbs, h('div', { class: 'page-header' }, title, summary), progress.node,
    section('Events', 'update-events', table, status));
  status.replaceChildren(loading('Loading events…'));

  // The history entry gives the version, kind and result; read again when a watched update ends.
  const loadSummary = () => api.get(`${stackApi}/updates`, { pageSize: 50, page: 1 }).then((res) => {
    const u = ((res && res.updates) || []).find((x) => (x.updateID || x.updateId || x.id) === updateId);
    if (!u) return;
    title.textContent = `Update #${u.version}`;
    replace(summary, h('span', null, u.kind || ''), resultBadge(u.result), changeChips(u.resourceChanges),
      u.requestedBy && u.requestedBy.githubLogin ? h('span', null, `by ${u.requestedBy.githubLogin}`) : null,
      timeEl(u.startTime, ''), u.message ? h('span', { class: 'muted' }, u.message) : null);
  }).catch(() => {});
  loadSummary();

  // Events by sequence: the live stream and the stored history overlap, and each event shows once, in order.
  const rows = new Map();
  const add = (ev, via) => {
    const seq = ev.sequence ?? -1;
    if (rows.has(seq)) return;
    const row = eventRow(ev);
    // When and how it got here (the tests measure the live view's delay from these).
    row.dataset.arrived = String(Date.now());
    row.dataset.via = via;
    if (ev.timestamp != null) row.dataset.timestamp = String(ev.timestamp);
    const after = [...rows.keys()].filter((k) => k > seq).sort((a, b) => a - b)[0];
    if (after === undefined) tbody.append(row);
    else tbody.insertBefore(row, rows.get(after));
    rows.set(seq, row);
    progress.add(ev);
  };
  const counted = () => `${rows.size} event${rows.size === 1 ? '' : 's'}`;

  let running = false;
  try {
    const st = await api.get(updateApi);
    running = st && (st.status === 'running' || st.status === 'not started');
  } catch (e) {
    status.replaceChildren(errorBox(e.message, 'page-error'));
    return;
  }

  // A running update is watched first and read second, so nothing stored in between is missed.
  const watch = async () => {
    let opened;
    const open = new Promise((resolve) => { opened = resolve; });
    const watched = api.stream(`${updateApi}/live`, (name, data) => {
      if (name === 'open') opened();
      else if (name === 'events') {
        try { JSON.parse(data).forEach((ev) => add(ev, 'live')); } catch { /* a torn frame: the history has it */ }
      }
    }).catch(() => {});
    await Promise.race([open, watched, new Promise((r) => setTimeout(r, 5000))]);
    // Wrapped: an async function returning the promise itself would wait for the whole stream.
    return { watched };
  };
  const readStored = async () => {
    let token;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await api.get(`${updateApi}/events`, { continuationToken: token });
      const events = (res && res.events) || [];
      events.forEach((ev) => add(ev, 'history'));
      token = res && res.continuationToken;
      if (!token || !events.length) break;
    }
  };
  try {
    let watched = running ? (await watch()).watched : null;
    await readStored();
    // A stream can end before the update does (the network, or a page too far behind): then read and watch again.
    for (let tries = 0; watched && tries < 100; tries++) {
      status.replaceChildren(h('span', { id: 'live-status', dataset: { state: 'live' } }, 'Live: following the update as it runs…'));
      await watched;
      const st = await api.get(updateApi);
      if (!(st && (st.status === 'running' || st.status === 'not started'))) break;
      await new Promise((r) => setTimeout(r, 1000));
      watched = (await watch()).watched;
      await readStored();
    }
  } catch (e) {
    status.replaceChildren(errorBox(e.message, 'page-error'));
    return;
  }
  if (running) {
    await readStored();
    await loadSummary();
    status.replaceChildren(h('span', { id: 'live-status', dataset: { state: 'ended' } }, `The update has ended. ${counted()}.`));
    return;
  }
  if (!rows.size) status.replaceChildren(h('span', { id: 'no-events' }, 'This update has no events.'));
  else status.textContent = `${counted()}.`;
}
