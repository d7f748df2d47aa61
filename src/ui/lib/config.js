// The page configuration the worker embeds in the HTML shell as
// <script type="application/json" id="procella-config">.

const PAGES = new Set(['cli-login', 'welcome', 'stacks', 'stack', 'update', 'tokens', 'settings', 'error', 'resource', 'audit']);

export function readConfig(doc = document) {
  const el = doc.getElementById('procella-config');
  let raw = {};
  try {
    raw = el ? JSON.parse(el.textContent || '{}') : {};
  } catch {
    return { page: 'error', mode: 'dev', params: {}, error: 'The page configuration is not valid JSON.' };
  }
  if (!raw || typeof raw !== 'object') raw = {};
  const cfg = {
    page: PAGES.has(raw.page) ? raw.page : 'error',
    mode: raw.mode === 'descope' ? 'descope' : 'dev',
    projectId: typeof raw.projectId === 'string' && raw.projectId ? raw.projectId : null,
    descopeBaseUrl: typeof raw.descopeBaseUrl === 'string' && raw.descopeBaseUrl ? raw.descopeBaseUrl : null,
    browserLogin: raw.browserLogin === true,
    params: raw.params && typeof raw.params === 'object' ? raw.params : {},
    error: typeof raw.error === 'string' ? raw.error : null,
  };
  if (!PAGES.has(raw.page) && !cfg.error) cfg.error = el ? `Unknown page "${String(raw.page)}".` : 'This page has no configuration.';
  return cfg;
}
