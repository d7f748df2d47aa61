// The Settings page's OIDC tab: the issuers an org trusts for `pulumi login --oidc-token` (URL, audiences,
// policies granting a role), and the tokens exchanged through them. Everything goes through the admin API
// (/api/orgs/{org}/oidc/...), which decides who may do what; this only shows its answers and errors.
import { h, replace, loading, errorBox, seg, timeEl } from './dom.js';

const EXAMPLE_POLICIES = [
  { name: 'main', role: 'member', claims: { repository: 'acme/app', ref: 'refs/heads/main' } },
];

function policyText(p) {
  const conditions = Object.entries(p.claims || {}).map(([k, v]) => `${k} = ${v}`).join(', ');
  const who = p.tokenType === 'personal' ? ` (personal, as ${p.user})` : '';
  const cap = p.maxExpirationSeconds ? `, at most ${p.maxExpirationSeconds} s` : '';
  return `${p.name || 'unnamed'}: ${p.role}${who}${cap} when ${conditions}`;
}

/** Fills `panel` with the OIDC settings of `org`. */
export async function oidcPanel(panel, api, org) {
  const base = `/api/orgs/${seg(org)}/oidc`;
  replace(panel, loading());

  // A removal from a button: the API's refusal is shown, and the lists are read again either way.
  const remove = (path, ask) => async () => {
    if (ask && !window.confirm(ask)) return;
    try {
      await api.del(path);
    } catch (e) {
      alert(e.message);
    }
    await refresh();
  };

  async function refresh() {
    let issuers;
    let tokens;
    try {
      [{ issuers }, { tokens }] = await Promise.all([api.get(`${base}/issuers`), api.get(`${base}/tokens`)]);
    } catch (e) {
      replace(panel, errorBox(e.message, 'oidc-load-error'));
      return;
    }
    replace(panel,
      h('p', { class: 'muted' }, 'CI pipelines log in with their platform\'s ID token (',
        h('code', null, `pulumi login --oidc-token … --oidc-org ${org}`),
        '). A token is accepted only from a registered issuer, for one of its audiences, when a policy matches its claims.'),
      issuerList(issuers),
      h('div', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-primary', id: 'oidc-add', onclick: () => showForm(null) }, 'Add issuer')),
      h('div', { id: 'oidc-form-slot' }),
      h('h3', null, 'Exchanged tokens'),
      tokenList(tokens, issuers));
  }

  function issuerList(issuers) {
    if (!issuers.length) {
      return h('p', { id: 'oidc-issuers', class: 'muted' }, 'No issuers: no OIDC token is accepted.');
    }
    return h('ul', { id: 'oidc-issuers', class: 'oidc-issuers' }, issuers.map((i) => h('li', { 'data-testid': 'oidc-issuer', 'data-name': i.name, class: 'oidc-issuer' },
      h('div', { class: 'strong' }, i.name),
      h('div', { class: 'muted mono' }, i.url),
      h('div', { class: 'muted' }, `Audiences: ${i.audiences.join(', ')}`),
      i.policies.length
        ? h('ul', null, i.policies.map((p) => h('li', { 'data-testid': 'oidc-policy' }, policyText(p))))
        : h('p', { class: 'muted' }, 'No policies: this issuer\'s tokens are all refused.'),
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'btn', 'data-testid': 'oidc-edit', onclick: () => showForm(i) }, 'Edit'),
        h('button', {
          type: 'button', class: 'btn btn-danger', 'data-testid': 'oidc-delete',
          onclick: remove(`${base}/issuers/${seg(i.id)}`, `Remove the issuer ${i.name}? Its exchanged tokens are revoked.`),
        }, 'Remove')))));
  }

  function tokenList(tokens, issuers) {
    const names = new Map(issuers.map((i) => [i.id, i.name]));
    if (!tokens.length) return h('p', { id: 'oidc-tokens', class: 'muted' }, 'No unexpired tokens.');
    return h('table', { id: 'oidc-tokens', class: 'table' },
      h('thead', null, h('tr', null, ['Name', 'Issuer', 'Role', 'Expires', ''].map((t) => h('th', null, t)))),
      h('tbody', null, tokens.map((t) => h('tr', { 'data-testid': 'oidc-token', 'data-name': t.name },
        h('td', { class: 'mono' }, t.name),
        h('td', null, names.get(t.issuerId) || t.issuerId),
        h('td', null, t.kind === 'personal' ? `${t.role} (as ${t.user})` : t.role),
        h('td', null, timeEl(t.expiresAt)),
        h('td', null, h('button', {
          type: 'button', class: 'btn btn-danger', 'data-testid': 'oidc-revoke',
          onclick: remove(`${base}/tokens/${seg(t.id)}`),
        }, 'Revoke'))))));
  }

  function showForm(issuer) {
    const slot = panel.querySelector('#oidc-form-slot');
    const field = (id, label, input) => h('label', { for: id }, label, input);
    const name = h('input', { id: 'oidc-name', value: issuer ? issuer.name : '', placeholder: 'github', required: true });
    const url = h('input', { id: 'oidc-url', value: issuer ? issuer.url : '', placeholder: 'https://token.actions.githubusercontent.com', required: true });
    const audiences = h('input', { id: 'oidc-audiences', value: issuer ? issuer.audiences.join(', ') : '', placeholder: `urn:pulumi:org:${org}` });
    const max = h('input', { id: 'oidc-max', type: 'number', min: 1, value: issuer && issuer.maxExpirationSeconds ? issuer.maxExpirationSeconds : '', placeholder: 'server default' });
    const policies = h('textarea', { id: 'oidc-policies', rows: 8, class: 'mono' });
    policies.value = JSON.stringify(issuer ? issuer.policies : EXAMPLE_POLICIES, null, 2);
    const error = h('div', { id: 'oidc-error', role: 'alert', class: 'alert alert-error', hidden: true });
    const save = async (e) => {
      e.preventDefault();
      error.hidden = true;
      let parsed;
      try {
        parsed = JSON.parse(policies.value || '[]');
      } catch (err) {
        error.textContent = `Policies are not valid JSON: ${err.message}`;
        error.hidden = false;
        return;
      }
      const body = {
        name: name.value.trim(),
        url: url.value.trim(),
        audiences: audiences.value.split(',').map((a) => a.trim()).filter(Boolean),
        policies: parsed,
      };
      if (max.value) body.maxExpirationSeconds = Number(max.value);
      try {
        if (issuer) await api.put(`${base}/issuers/${seg(issuer.id)}`, body);
        else await api.post(`${base}/issuers`, body);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
        return;
      }
      await refresh();
    };
    replace(slot, h('form', { id: 'oidc-form', class: 'card form', onsubmit: save },
      h('h3', null, issuer ? `Edit ${issuer.name}` : 'Add an issuer'),
      field('oidc-name', 'Name', name),
      field('oidc-url', 'Issuer URL (exactly the tokens\' iss)', url),
      field('oidc-audiences', 'Accepted audiences (comma-separated; empty: the org\'s)', audiences),
      field('oidc-max', 'Longest token lifetime, seconds', max),
      field('oidc-policies', 'Policies (JSON: name, role, claims, optional tokenType/user/maxExpirationSeconds)', policies),
      error,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn btn-primary', id: 'oidc-save' }, 'Save'),
        h('button', { type: 'button', class: 'btn', onclick: () => replace(slot) }, 'Cancel'))));
    name.focus();
  }

  await refresh();
}
