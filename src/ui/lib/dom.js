// Tiny DOM helpers. Text always goes in through text nodes (never innerHTML), so data from the
// API cannot inject markup.

/**
 * h('a', { href: '/x', class: 'link', dataset: { testid: 'row' }, onclick: fn }, 'text', child, [more])
 * Attribute values are set with setAttribute; `null`, `undefined` and `false` are skipped.
 */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') {
      for (const [dk, dv] of Object.entries(value)) if (dv != null) el.dataset[dk] = String(dv);
    }
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replaces all children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** Path segment encoding for links built from names. */
export const seg = (s) => encodeURIComponent(String(s));

export function stackPath(org, project, stack) {
  return `/stacks/${seg(org)}/${seg(project)}/${seg(stack)}`;
}

export function loading(text = 'Loading…') {
  return h('p', { class: 'loading', 'data-testid': 'loading' }, text);
}

export function errorBox(message, id) {
  return h('div', { class: 'alert alert-error', role: 'alert', id }, message);
}

/** A card with a heading. */
export function section(title, id, ...children) {
  return h('section', { class: 'card', id }, h('h2', null, title), ...children);
}

/** Unix seconds (or milliseconds) to a Date; null for empty values. */
export function toDate(t) {
  if (t == null || t === '' || t === 0) return null;
  const n = typeof t === 'number' ? t : Number(t);
  if (!Number.isFinite(n)) {
    const d = new Date(t);
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return new Date(n > 1e12 ? n : n * 1000);
}

const rtf = typeof Intl !== 'undefined' && Intl.RelativeTimeFormat
  ? new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' })
  : null;

export function relative(date, now = Date.now()) {
  const diff = (date.getTime() - now) / 1000;
  const abs = Math.abs(diff);
  const units = [[60, 'second', 1], [3600, 'minute', 60], [86400, 'hour', 3600], [604800, 'day', 86400],
    [2629800, 'week', 604800], [31557600, 'month', 2629800], [Infinity, 'year', 31557600]];
  for (const [limit, unit, size] of units) {
    if (abs < limit) {
      const value = Math.round(diff / size);
      return rtf ? rtf.format(value, unit) : `${Math.abs(value)} ${unit}s ${diff < 0 ? 'ago' : 'from now'}`;
    }
  }
  return date.toLocaleString();
}

/** A <time> element showing a relative time, with the full local time as its tooltip. */
export function timeEl(t, empty = 'never') {
  const d = toDate(t);
  if (!d) return h('span', { class: 'muted' }, empty);
  return h('time', { datetime: d.toISOString(), title: d.toLocaleString() }, relative(d));
}

/** Clock time for event logs. */
export function clock(t) {
  const d = toDate(t);
  return d ? d.toLocaleTimeString(undefined, { hour12: false }) : '';
}
