// Sign-in: a dev token form, or the Descope sign-up-or-in flow (loaded on demand).
import { h, replace, errorBox, loading } from './dom.js';
import { ApiError, apiFetch, client } from './api.js';
import { clearSession, currentToken, descopeBase, setDescopeSession, setDevToken } from './session.js';

const SIGN_IN_STALL_MS = 15000;

/**
 * Resolves with { token, user, api } once the browser has a session the API accepts, showing the sign-in UI in
 * `main` as long as it has none.
 */
export async function requireUser(cfg, main) {
  let message = null;
  let signedIn = false;
  for (;;) {
    const token = await currentToken(cfg);
    if (!token && signedIn && cfg.mode === 'descope') {
      // The flow succeeded but left no session JWT where this page can read it.
      message = 'Descope signed you in but returned no session token to this page. The Descope project must '
        + 'return the session token in the response body, not only in a cookie.';
    }
    if (token) {
      try {
        const user = await apiFetch(cfg, token, '/api/user');
        return { token, user, api: client(cfg, token) };
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 401) throw e;
        clearSession();
        message = `Your session was not accepted (${e.message}). Please sign in again.`;
      }
    }
    await signIn(cfg, main, message);
    signedIn = true;
    message = null;
  }
}

/** Shows the sign-in card; resolves when the user has signed in (the caller re-checks the session). */
function signIn(cfg, main, message) {
  return new Promise((resolve) => {
    const error = h('div', { class: 'alert alert-error', id: 'sign-in-error', role: 'alert', hidden: true });
    const showError = (text) => {
      error.textContent = text;
      error.hidden = !text;
    };
    const card = h('section', { class: 'card sign-in', id: 'sign-in-card' },
      h('h1', null, 'Sign in to Procella'),
      message ? h('div', { class: 'alert alert-info', id: 'sign-in-message' }, message) : null);
    replace(main, card);

    if (cfg.mode !== 'descope') {
      const input = h('input', {
        id: 'dev-token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true,
        placeholder: 'Paste your dev token',
      });
      const button = h('button', { id: 'sign-in', type: 'submit', class: 'btn btn-primary' }, 'Sign in');
      const form = h('form', { id: 'sign-in-form', class: 'form', novalidate: true },
        h('label', { for: 'dev-token' }, 'Dev token'),
        input,
        h('p', { class: 'hint' }, 'This server runs in dev mode: use one of the tokens from PROCELLA_DEV_USERS.'),
        error,
        h('div', { class: 'actions' }, button));
      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const token = input.value.trim();
        if (!token) {
          showError('Enter a token.');
          input.focus();
          return;
        }
        button.disabled = true;
        showError('');
        try {
          await apiFetch(cfg, token, '/api/user');
          setDevToken(token);
          resolve();
        } catch (err) {
          showError(err.status === 401 ? `That token was not accepted: ${err.message}` : err.message);
          button.disabled = false;
        }
      });
      card.append(form);
      input.focus();
      return;
    }

    if (!cfg.projectId) {
      card.append(errorBox('Descope sign-in is not configured on this server (no Descope project ID).', 'sign-in-error'));
      return;
    }
    const host = h('div', { class: 'descope-host', id: 'descope-login' }, loading('Loading sign-in…'));
    card.append(error, host);
    // The flow's screens come from Descope; if they never arrive, say so instead of showing an empty card.
    let ready = false;
    const stall = setTimeout(() => {
      if (!ready) showError(`The sign-in form has not loaded. Check that this browser can reach Descope (${descopeBase(cfg)}).`);
    }, SIGN_IN_STALL_MS);
    import('../descope/login.js')
      .then(({ mountLogin }) => mountLogin(host, {
        projectId: cfg.projectId,
        baseUrl: cfg.descopeBaseUrl,
        onReady() {
          ready = true;
          clearTimeout(stall);
          showError('');
        },
        onSuccess(detail) {
          clearTimeout(stall);
          if (detail && detail.sessionJwt) setDescopeSession(detail.sessionJwt, detail.refreshJwt);
          resolve();
        },
        onError(detail) {
          const text = detail && (detail.errorMessage || detail.errorDescription || detail.errorCode);
          if (text) showError(`Sign-in failed: ${text}`);
        },
      }))
      .catch((err) => {
        clearTimeout(stall);
        replace(host);
        showError(`The sign-in form could not be loaded: ${err.message || err}`);
      });
  });
}
