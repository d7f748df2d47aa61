// Fills a tab panel with a Descope widget loaded on demand.
import { h, loading, replace } from './dom.js';

/** load: () => import('../descope/widget-*.js'); opts: { projectId, baseUrl, tenant, widgetId, testId }. */
export function widgetPanel(panel, load, opts, what) {
  if (!opts.projectId || !opts.widgetId) {
    const missing = !opts.projectId ? 'the Descope project ID' : `a widget ID for ${what}`;
    replace(panel, h('div', { class: 'alert alert-info', 'data-testid': 'widget-missing' }, `The ${what} widget is not available: the server has no ${missing}.`));
    return;
  }
  const host = h('div', { class: 'widget-host', 'data-testid': 'widget-host' }, loading(`Loading ${what}…`));
  replace(panel, host);
  load()
    .then((m) => m.mount(host, opts))
    .catch((err) => {
      replace(host, h('div', { class: 'alert alert-error', role: 'alert', 'data-testid': 'widget-error' },
        `The ${what} widget could not be loaded: ${err.message || err}`));
    });
}
