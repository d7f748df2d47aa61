// Shared mounting for the Descope management widgets. They call Descope with the signed-in user's session, which
// the Descope SDK reads from localStorage (DS / DSR), and need the Tenant Admin role for the tenant-level ones.
import { descopeElement, ensureDescopeUI } from './ui-loader.js';

export async function mountWidget(tag, host, { projectId, baseUrl, tenant, widgetId, testId }) {
  await ensureDescopeUI();
  const el = descopeElement(tag, {
    'project-id': projectId,
    tenant,
    'widget-id': widgetId,
    'base-url': baseUrl,
    theme: 'light',
    'data-testid': testId,
  });
  host.replaceChildren(el);
  return el;
}
