// The Descope sign-up-or-in flow (<descope-wc>). Loaded only where someone has to sign in.
import '@descope/web-component';
import { descopeElement, ensureDescopeUI } from './ui-loader.js';

export async function mountLogin(host, { projectId, baseUrl, onReady, onSuccess, onError }) {
  await ensureDescopeUI();
  const wc = descopeElement('descope-wc', {
    'project-id': projectId,
    'flow-id': 'sign-up-or-in',
    'base-url': baseUrl,
    theme: 'light',
  });
  wc.id = 'descope-flow';
  wc.addEventListener('ready', () => onReady && onReady());
  wc.addEventListener('success', (e) => onSuccess(e.detail));
  wc.addEventListener('error', (e) => onError(e.detail));
  host.replaceChildren(wc);
  return wc;
}
