"""The browser side in headless Chromium: `pulumi login <url>` completed in a browser (dev and descope mode), the
dashboard's pages over stacks and updates made by the real CLI, and the refusals that keep them safe."""

import json
import time
import urllib.parse
import urllib.request

import pytest
from playwright.sync_api import expect, sync_playwright

from browser import InteractiveLogin, launch
from conftest import ADMIN_TOKEN, EVE_TOKEN, ORG, VIEWER_TOKEN, DESCOPE_PROJECT

NONCE = "ab" * 32


@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as p:
        browser = launch(p)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    page = context.new_page()
    yield page
    context.close()


def sign_in_dev(page, url, token):
    page.goto(url)
    page.fill("#dev-token", token)
    page.click("#sign-in")


def test_pulumi_login_in_a_browser_with_a_dev_token(server, page, tmp_path):
    cli = InteractiveLogin(server.url, tmp_path)
    cli.read_until(r"access token from")
    cli.press_enter()
    opened = cli.opened_url()
    parsed = urllib.parse.urlparse(opened)
    assert parsed.path == "/cli-login" and f"{parsed.scheme}://{parsed.netloc}" == server.url, opened
    query = urllib.parse.parse_qs(parsed.query)
    port = query["cliSessionPort"][0]

    sign_in_dev(page, opened, ADMIN_TOKEN)
    expect(page.locator("#login-card")).to_be_visible()
    expect(page.locator("#user-name")).to_contain_text("ada")
    with page.expect_navigation(url=f"{server.url}/welcome/cli"):
        page.click("#continue")
    assert cli.wait() == 0, cli.output
    code, who = cli.whoami()
    assert code == 0 and "ada" in who and ORG in who, who
    assert f"127.0.0.1:{port}" not in page.url, "the browser ended on the welcome page, not the CLI's callback"


def test_pulumi_login_in_a_browser_in_descope_mode(descope_server, fake_descope, chromium, tmp_path):
    fake_descope.call("POST", "/_fake/users", {
        "userId": "U2browser", "loginId": "bea@example.com", "email": "bea@example.com", "name": "Bea Browser",
        "tenants": [{"tenantId": "T-acme", "tenantName": "Acme", "roleNames": ["admin"]}],
    })
    # The tenant's organization is `acme` on this server (bound when a key of T-acme first signed in); a user's
    # own session carries none of the `procella*` claims of the keys this backend makes.
    key, _ = fake_descope.access_key(tenants=[{"tenantId": "T-acme", "roleNames": ["admin"]}],
                                     customClaims={"procellaOrgs": {"T-acme": "acme"}})
    assert descope_server.request("GET", "/api/user", key).status == 200
    session = fake_descope.call("POST", "/_fake/sessions", {
        "userId": "U2browser", "customClaims": {"login": "bea", "name": "Bea Browser", "email": "bea@example.com"}})
    cli = InteractiveLogin(descope_server.url, tmp_path)
    cli.read_until(r"access token from")
    cli.press_enter()
    opened = cli.opened_url()

    context = chromium.new_context()
    page = context.new_page()
    try:
        # Signed in already: the session the Descope component would have stored.
        page.goto(descope_server.url + "/welcome/cli")
        page.evaluate("([s, r]) => { localStorage.setItem('DS', s); localStorage.setItem('DSR', r); }",
                      [session["sessionJwt"], session["refreshJwt"]])
        before = len(fake_descope.stats()["requests"])
        page.goto(opened)
        expect(page.locator("#login-card")).to_be_visible()
        expect(page.locator("#user-name")).to_contain_text("Bea Browser")
        expect(page.locator("#user-email")).to_contain_text("bea@example.com")
        with page.expect_navigation(url=f"{descope_server.url}/welcome/cli"):
            page.click("#continue")
    finally:
        context.close()
    assert cli.wait() == 0, cli.output
    created = [r for r in fake_descope.stats()["requests"][before:] if r["path"] == "/v1/mgmt/accesskey/create"]
    assert created and created[0]["authHeaderScheme"] == "Bearer", "the key was made at the management API"
    code, who = cli.whoami()
    assert code == 0 and "bea" in who and "acme" in who and "T-acme" not in who, who


def test_browser_login_without_a_management_key_says_how_to_log_in(fake_descope, server_factory, page):
    from conftest import descope_vars
    s = server_factory({k: v for k, v in descope_vars(fake_descope).items() if k != "PROCELLA_DESCOPE_MANAGEMENT_KEY"})
    fake_descope.call("POST", "/_fake/users", {
        "userId": "U3browser", "loginId": "cy@example.com", "email": "cy@example.com", "name": "Cy Browser",
        "tenants": [{"tenantId": "T-acme", "tenantName": "Acme", "roleNames": ["member"]}],
    })
    session = fake_descope.call("POST", "/_fake/sessions", {"userId": "U3browser"})
    page.goto(s.url + "/welcome/cli")
    page.evaluate("s => localStorage.setItem('DS', s)", session["sessionJwt"])
    page.goto(f"{s.url}/cli-login?cliSessionPort=45678&cliSessionNonce={NONCE}&cliSessionDescription=x")
    expect(page.locator("#browser-login-unavailable")).to_be_visible()
    expect(page.locator("#browser-login-unavailable")).to_contain_text("access key")


@pytest.mark.parametrize("query", [
    f"cliSessionPort=80&cliSessionNonce={NONCE}",
    f"cliSessionPort=70000&cliSessionNonce={NONCE}",
    "cliSessionPort=45678",
    f"cliSessionPort=45678&cliSessionNonce={NONCE}&redirect_uri=https://evil.example/",
    "cliSessionPort=45678&cliSessionNonce=%3Cscript%3E",
], ids=["port-80", "port-out-of-range", "no-nonce", "redirect-elsewhere", "nonce-markup"])
def test_bad_cli_login_parameters_are_refused(server, page, query):
    r = server.request("GET", f"/cli-login?{query}")
    assert r.status == 400
    assert "script-src 'self'" in r.headers.get("Content-Security-Policy", "")
    page.goto(f"{server.url}/cli-login?{query}")
    expect(page.locator("#page-error")).to_be_visible()
    expect(page.locator("#continue")).to_have_count(0)


def test_pages_carry_a_strict_policy(server):
    r = server.request("GET", "/")
    csp = r.headers.get("Content-Security-Policy", "")
    assert r.status == 200 and "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
    assert r.headers.get("Referrer-Policy") == "no-referrer"
    assert b"procella-config" in r.body


@pytest.fixture(scope="module")
def deployed(server, tmp_path_factory):
    """A stack with resources and two updates, made by the real CLI."""
    from conftest import Pulumi
    tmp = tmp_path_factory.mktemp("dash")
    p = Pulumi(server, ADMIN_TOKEN, tmp, project="dashapp")
    p.env.update({"PROCELLA_TEST_PROVIDER_STATE": str(tmp / "provider"), "PULUMI_CONFIG_PASSPHRASE": ""})
    (tmp / "provider").mkdir()
    (p.dir / "Pulumi.yaml").write_text(
        "name: dashapp\nruntime: yaml\nresources:\n  alpha:\n    type: procella-test:index:Item\n"
        "    properties:\n      value: one\n  beta:\n    type: procella-test:index:Item\n    properties:\n"
        "      value: two\noutputs:\n  greeting: hello\n  token:\n    fn::secret: sup3r-secret-output\n")
    p.run("stack", "init", f"{ORG}/dashapp/prod")
    p.run("up", "--yes", "--skip-preview", "-m", "first deploy")
    (p.dir / "Pulumi.yaml").write_text((p.dir / "Pulumi.yaml").read_text().replace("value: two", "value: three"))
    p.run("up", "--yes", "--skip-preview", "-m", "second deploy")
    eve = Pulumi(server, EVE_TOKEN, tmp / "eve", project="secretproj")
    eve.run("stack", "init", "eve-org/secretproj/hidden")
    return f"{ORG}/dashapp/prod"


def test_the_dashboard_shows_stacks_resources_history_and_events(server, page, deployed):
    sign_in_dev(page, server.url + "/", ADMIN_TOKEN)
    rows = page.locator("[data-testid=stack-row]")
    expect(rows.filter(has_text="dashapp")).to_have_count(1)
    expect(page.locator("body")).not_to_contain_text("secretproj")

    page.click("text=prod")
    expect(page).to_have_url(f"{server.url}/stacks/{deployed}")
    resources = page.locator("[data-testid=resource-row]")
    expect(resources.filter(has_text="alpha")).to_have_count(1)
    expect(resources.filter(has_text="procella-test:index:Item")).to_have_count(2)
    expect(page.locator("body")).to_contain_text("hello")
    expect(page.locator("body")).not_to_contain_text("sup3r-secret-output")
    history = page.locator("[data-testid=history-row]")
    expect(history).to_have_count(2)
    expect(history.first).to_contain_text("second deploy")

    history.first.locator("a").first.click()
    expect(page).to_have_url(f"{server.url}/stacks/{deployed}/updates/" + page.url.rsplit("/", 1)[-1])
    events = page.locator("[data-testid=event-row]")
    expect(events.first).to_be_visible()
    expect(page.locator("body")).to_contain_text("beta")


def test_an_error_event_shows_its_message_and_an_unknown_event_its_json(server, page, unique):
    from test_http_updates import new_stack, start, up

    stack = new_stack(server, unique)
    uid, started = start(server, stack)
    events = [
        {"sequence": 1, "timestamp": 1, "errorEvent": {"error": "snapshot integrity failure: the boom"}},
        {"sequence": 2, "timestamp": 2, "shinyNewEvent": {"detail": "from a newer CLI"}},
    ]
    assert up(server, stack, uid, started["token"], "events/batch", {"events": events}).status == 200
    assert up(server, stack, uid, started["token"], "complete", {"status": "failed"}).status == 200
    _, org, project, name = stack.rsplit("/", 3)
    sign_in_dev(page, f"{server.url}/stacks/{org}/{project}/{name}/updates/{uid}", ADMIN_TOKEN)
    rows = page.locator("[data-testid=event-row]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("the boom")
    expect(rows.nth(0)).to_have_attribute("data-kind", "error")
    expect(rows.nth(1)).to_contain_text('"detail":"from a newer CLI"')


def test_another_orgs_stack_is_not_shown(server, page, deployed):
    sign_in_dev(page, server.url + "/stacks/eve-org/secretproj/hidden", ADMIN_TOKEN)
    expect(page.locator("#page-error")).to_contain_text("not found")
    expect(page.locator("[data-testid=resource-row]")).to_have_count(0)


def test_a_viewer_cannot_reach_settings(server, page):
    sign_in_dev(page, server.url + "/settings", VIEWER_TOKEN)
    expect(page.locator("#settings-denied")).to_be_visible()
    r = server.request("GET", f"/api/console/settings?org={ORG}", VIEWER_TOKEN)
    assert r.status == 403 and "admins" in r.json()["message"]


def test_a_running_update_is_watched_live_and_resumes_after_a_reload(server, page, tmp_path):
    """A `pulumi up` of slow resources, followed in the update page: events and progress arrive while it runs,
    a reload picks the stream up again, and the end shows without reloading."""
    import os
    import signal

    from conftest import Pulumi
    from twins import wait_until
    p = Pulumi(server, ADMIN_TOKEN, tmp_path, project="liveapp")
    p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(tmp_path / "provider")
    (tmp_path / "provider").mkdir()
    slow = "".join(f"  slow{i}:\n    type: procella-test:index:Item\n    properties:\n      value: s{i}\n"
                   f"      sleepSeconds: 4\n" + (f"    options:\n      dependsOn:\n        - ${{slow{i - 1}}}\n" if i else "")
                   for i in range(4))
    (p.dir / "Pulumi.yaml").write_text(f"name: liveapp\nruntime: yaml\nresources:\n  quick:\n"
                                       f"    type: procella-test:index:Item\n    properties:\n      value: q\n{slow}")
    stack = f"{ORG}/liveapp/dev"
    p.run("stack", "init", stack)
    cli = p.start("up", "--yes", "--skip-preview")
    try:
        active = []
        wait_until(lambda: active.append(server.request("GET", f"/api/stacks/{stack}", ADMIN_TOKEN).json()["activeUpdate"])
                   or active[-1], 60, "the update to start")
        update = active[-1]
        sign_in_dev(page, server.url + "/", ADMIN_TOKEN)
        page.goto(f"{server.url}/stacks/{stack}/updates/{update}")
        expect(page.locator("#live-status[data-state=live]")).to_be_visible(timeout=20000)
        bar = page.locator("#update-progress")
        expect(bar).to_have_attribute("data-done", "1", timeout=30000)
        assert cli.poll() is None, "events and progress showed before the update ended"
        first = int(bar.get_attribute("data-planned"))
        expect(page.locator("#current-ops")).to_contain_text("slow", timeout=20000)
        # Progress advances while the page watches, with no reload.
        wait_until(lambda: int(bar.get_attribute("data-done") or 0) >= 2, 30, "a second step done")
        assert cli.poll() is None
        seen = page.locator("[data-testid=event-row]").count()

        page.reload()
        expect(page.locator("#live-status[data-state=live]")).to_be_visible(timeout=20000)
        assert page.locator("[data-testid=event-row]").count() >= seen, "a reload resumes with what was shown"

        # Only callers who may read the stack can subscribe; a viewer can watch.
        live = f"/api/stacks/{stack}/update/{update}/live"
        assert server.request("GET", live, EVE_TOKEN).status == 404
        assert server.request("GET", live).status == 401
        watch = urllib.request.Request(server.url + live, headers={"Authorization": f"token {VIEWER_TOKEN}"})
        with urllib.request.urlopen(watch, timeout=10) as r:
            assert r.status == 200 and r.headers["content-type"].startswith("text/event-stream")
            assert r.read(12) == b": watching\n\n"

        assert cli.wait(timeout=120) == 0
        expect(page.locator("#live-status[data-state=ended]")).to_be_visible(timeout=15000)
        expect(page.locator("#update-meta")).to_contain_text("succeeded", timeout=15000)
        expect(bar).to_have_attribute("data-done", str(int(bar.get_attribute("data-planned"))))
        assert int(bar.get_attribute("data-planned")) >= max(first, 5)
        # The delay from a CLI event (its timestamp, in seconds) to the page, over the events that arrived live.
        delays = page.evaluate("""() => [...document.querySelectorAll('[data-testid=event-row][data-via=live]')]
            .filter(r => r.dataset.timestamp).map(r => Number(r.dataset.arrived) - 1000 * Number(r.dataset.timestamp))""")
        assert delays, "events arrived through the live stream"
        report = os.environ.get("LIVE_REPORT")
        if report:
            with open(report, "w") as f:
                json.dump({"events": len(delays), "delays_ms": delays}, f)
    finally:
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGKILL)


def test_a_component_child_page_links_its_dependencies_and_masks_secrets(server, page, tmp_path):
    from conftest import Pulumi
    p = Pulumi(server, ADMIN_TOKEN, tmp_path, project="treeapp")
    p.env["PROCELLA_TEST_PROVIDER_STATE"] = str(tmp_path / "provider")
    (tmp_path / "provider").mkdir()
    item = "procella-test:index:Item"
    (p.dir / "Pulumi.yaml").write_text(
        f"name: treeapp\nruntime: yaml\nresources:\n  holder:\n    type: {item}\n    properties:\n      value: h\n"
        f"  base:\n    type: {item}\n    properties:\n      value: b\n"
        f"  leaf:\n    type: {item}\n    properties:\n      value:\n        fn::secret: leaf-s3cret-value\n"
        "    options:\n      parent: ${holder}\n      dependsOn:\n        - ${base}\n")
    stack = f"{ORG}/treeapp/dev"
    p.run("stack", "init", stack)
    p.run("up", "--yes", "--skip-preview")
    # YAML programs cannot declare components, so the state gets one by import: `holder` becomes a component
    # (custom: false) with `leaf` as its child, as a component provider would have left them.
    exported = json.loads(p.run("stack", "export").stdout)
    for r in exported["deployment"]["resources"]:
        if r["urn"].endswith("::holder"):
            r.update({"custom": False, "type": "treeapp:index:Holder"})
            for k in ("id", "provider", "inputs", "outputs"):
                r.pop(k, None)
        r["urn"] = r["urn"].replace(f"{item}$", "treeapp:index:Holder$").replace(f"{item}::holder", "treeapp:index:Holder::holder")
        if r.get("parent"):
            r["parent"] = r["parent"].replace(f"{item}::holder", "treeapp:index:Holder::holder")
    (tmp_path / "state.json").write_text(json.dumps(exported))
    p.run("stack", "import", "--file", str(tmp_path / "state.json"))
    sign_in_dev(page, f"{server.url}/stacks/{stack}", ADMIN_TOKEN)
    page.goto(f"{server.url}/stacks/{stack}")
    tree = page.locator("#resource-tree")
    # The child sits under its parent in the tree, and the search keeps its place there.
    expect(tree.locator("details:has(> summary [data-urn$='::holder']) [data-urn$='::leaf']")).to_have_count(1)
    page.fill("#resource-search", "leaf")
    expect(page.locator("[data-testid=resource-row]:visible")).to_have_count(3)  # the stack, holder, leaf
    page.fill("#resource-search", "")

    page.click("[data-urn$='::leaf'] a")
    expect(page.locator("#resource-type")).to_have_text(item)
    expect(page.locator("[data-testid=resource-parent]")).to_have_text("holder")
    expect(page.locator("#resource-urn")).to_contain_text("treeapp:index:Holder$procella-test:index:Item::leaf")
    expect(page.locator("[data-testid=dependency]")).to_have_text(["base"])
    expect(page.locator("[data-testid=inputs-row][data-key=value]")).to_contain_text("[secret]")
    expect(page.locator("#resource-last-update")).to_contain_text("update #")
    expect(page.locator("body")).not_to_contain_text("leaf-s3cret-value")
    page.click("[data-testid=dependency]")
    expect(page.locator("#resource-urn")).to_contain_text("::base")
    expect(page.locator("#resource-id")).not_to_have_text("—")
    page.goto(f"{server.url}/stacks/{stack}/resources?urn=" + urllib.parse.quote(
        f"urn:pulumi:dev::treeapp::treeapp:index:Holder::holder"))
    expect(page.locator("#page-title")).to_have_text("holder")
    expect(page.locator(".page-header .meta")).to_have_text("component")
    expect(page.locator("[data-testid=child]")).to_have_text(["leaf"])


def test_the_audit_page_lists_filters_and_exports_the_log(server, page, unique):
    project = unique("aup")
    assert server.request("POST", f"/api/stacks/{ORG}/{project}", ADMIN_TOKEN, {"stackName": "dev"}).status == 200
    assert server.request("DELETE", f"/api/stacks/{ORG}/{project}/dev", VIEWER_TOKEN).status == 403
    # Entries are written just after each answer: the page is opened once the denial is in the log.
    from twins import wait_until
    wait_until(lambda: any(e["target"] == f"{ORG}/{project}/dev" for e in server.request(
        "GET", f"/api/orgs/{ORG}/auditlogs?actor=vic", ADMIN_TOKEN).json()["auditLogEvents"]), 20, "the denial to be recorded")
    sign_in_dev(page, f"{server.url}/audit?org={ORG}", ADMIN_TOKEN)
    page.goto(f"{server.url}/audit?org={ORG}")
    expect(page.locator("[data-testid=audit-row]").first).to_be_visible()
    page.fill("#audit-actor", "vic")
    page.click("#audit-apply")
    expect(page.locator("[data-testid=audit-row][data-actor=vic]").first).to_be_visible()
    expect(page.locator("[data-testid=audit-row]:not([data-actor=vic])")).to_have_count(0)
    with page.expect_download() as d:
        page.click("#audit-csv")
    text = open(d.value.path()).read()
    assert text.startswith("time,actor,event,target,status,sourceIP") and f"{ORG}/{project}/dev" in text

    # A member is refused by the API, and the page says so.
    page.click("#sign-out")
    sign_in_dev(page, f"{server.url}/audit?org={ORG}", "tok-member")
    page.goto(f"{server.url}/audit?org={ORG}")
    expect(page.locator("#page-error")).to_contain_text("admin")


def test_the_settings_page_shows_and_edits_oidc_issuers(server, page, fake_oidc, unique):
    from conftest import github_claims
    name = unique("gh")
    url = fake_oidc.issuer(name)
    sign_in_dev(page, f"{server.url}/settings?org={ORG}#oidc", ADMIN_TOKEN)
    expect(page.locator("#settings-unavailable")).to_contain_text("dev mode")
    expect(page.locator("#tab-oidc")).to_have_attribute("aria-selected", "true")

    # A bad URL is refused with the API's reason, in the form.
    page.click("#oidc-add")
    page.fill("#oidc-name", name)
    page.fill("#oidc-url", "http://ci.example.com")
    page.click("#oidc-save")
    expect(page.locator("#oidc-error")).to_contain_text("must use https")
    page.fill("#oidc-url", url)
    page.fill("#oidc-policies", json.dumps([{"name": "main", "role": "member",
                                             "claims": {"repository": "acme/app", "ref": "refs/heads/main"}}]))
    page.click("#oidc-save")
    issuer = page.locator(f"[data-testid=oidc-issuer][data-name='{name}']")
    expect(issuer).to_contain_text(url)
    expect(issuer).to_contain_text(f"urn:pulumi:org:{ORG}")
    expect(issuer.locator("[data-testid=oidc-policy]")).to_have_text(
        "main: member when ref = refs/heads/main, repository = acme/app")

    # Edited: the new policy is what the API now holds, and what the next exchange is checked against.
    issuer.locator("[data-testid=oidc-edit]").click()
    page.fill("#oidc-policies", json.dumps([{"name": "any-branch", "role": "viewer", "claims": {"repository": "acme/*"}}]))
    page.click("#oidc-save")
    expect(issuer.locator("[data-testid=oidc-policy]")).to_have_text("any-branch: viewer when repository = acme/*")
    stored = [i for i in server.request("GET", f"/api/orgs/{ORG}/oidc/issuers", ADMIN_TOKEN).json()["issuers"]
              if i["name"] == name]
    assert stored[0]["policies"][0]["role"] == "viewer"

    # A token exchanged through it is listed and revoked from the page.
    from test_oidc import exchange
    granted = exchange(server, fake_oidc.mint(name, github_claims(url, ORG, ref="refs/heads/dev")))
    assert granted.status == 200, granted.body
    token = granted.json()["access_token"]
    page.reload()
    row = page.locator("[data-testid=oidc-token]", has_text=f"oidc:{name}:")
    expect(row).to_contain_text("viewer")
    row.locator("[data-testid=oidc-revoke]").click()
    expect(row).to_have_count(0)
    assert server.request("GET", "/api/user", token).status == 401

    # Removing asks first; then the issuer is gone.
    page.once("dialog", lambda d: d.accept())
    issuer.locator("[data-testid=oidc-delete]").click()
    expect(issuer).to_have_count(0)
    assert not [i for i in server.request("GET", f"/api/orgs/{ORG}/oidc/issuers", ADMIN_TOKEN).json()["issuers"]
                if i["name"] == name]
