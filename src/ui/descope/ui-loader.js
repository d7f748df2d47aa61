// Descope's flow and widget elements render with the components of @descope/web-components-ui. Left alone they
// would inject that library from a CDN; the build copies the package's own browser build to
// assets/descope-ui/, and this loads it from our origin first, so `globalThis.DescopeUI` is set and no CDN is used.

const UI_URL = new URL('../descope-ui/index.js', import.meta.url).href;
let loading = null;

export function ensureDescopeUI() {
  if (globalThis.DescopeUI) return Promise.resolve();
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement('script');
      script.src = UI_URL;
      script.async = true;
      script.onload = () => (globalThis.DescopeUI ? resolve() : reject(new Error('Descope UI components did not load')));
      script.onerror = () => reject(new Error(`cannot load ${UI_URL}`));
      document.head.append(script);
    }).catch((e) => {
      loading = null;
      throw e;
    });
  }
  return loading;
}

/** Creates a Descope element with the given attributes (null/empty values are left out). */
export function descopeElement(tag, attrs) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v != null && v !== '') el.setAttribute(k, String(v));
  return el;
}
