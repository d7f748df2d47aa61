// Accessible tabs whose panels are filled on first activation (so widgets load only when shown).
// The active tab is kept in the URL hash (#users, #audit, ...).
import { h } from './dom.js';

/** tabs: [{ key, label, render(panel) }]. Returns the element. */
export function tabs(items, { id = 'tabs' } = {}) {
  const list = h('div', { class: 'tabs', role: 'tablist', id });
  const panels = h('div', { class: 'tab-panels' });
  const rendered = new Set();
  const buttons = new Map();
  const panelEls = new Map();

  function select(key, focus = false) {
    if (!buttons.has(key)) key = items[0].key;
    for (const item of items) {
      const on = item.key === key;
      const btn = buttons.get(item.key);
      btn.setAttribute('aria-selected', on ? 'true' : 'false');
      btn.tabIndex = on ? 0 : -1;
      btn.classList.toggle('active', on);
      panelEls.get(item.key).hidden = !on;
      if (on && !rendered.has(item.key)) {
        rendered.add(item.key);
        item.render(panelEls.get(item.key));
      }
      if (on && focus) btn.focus();
    }
    if (location.hash.slice(1) !== key) history.replaceState(null, '', `#${key}`);
  }

  items.forEach((item, i) => {
    const btn = h('button', {
      type: 'button', role: 'tab', id: `tab-${item.key}`, class: 'tab', 'aria-controls': `panel-${item.key}`,
      dataset: { tab: item.key },
      onclick: () => select(item.key),
      onkeydown: (e) => {
        const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
        if (d) select(items[(i + d + items.length) % items.length].key, true);
      },
    }, item.label);
    const panel = h('div', { role: 'tabpanel', id: `panel-${item.key}`, class: 'tab-panel', 'aria-labelledby': `tab-${item.key}`, hidden: true });
    buttons.set(item.key, btn);
    panelEls.set(item.key, panel);
    list.append(btn);
    panels.append(panel);
  });

  const root = h('div', { class: 'tabset' }, list, panels);
  select(location.hash.slice(1));
  return root;
}
