"""The dashboard in Chromium, checked against the API's own answers.

Run by ui_browser.rs with the binary already serving; every step asserts and
a failure names the step. Environment: UI_BASE (the gateway), UI_KEY (an API
key with read and admin), UI_SIM_VSS / UI_SIM_COX (simulator origins, for
/__sim/faults), UI_SHOTS (screenshot folder), UI_CHROMIUM (the browser).
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright

BASE = os.environ["UI_BASE"]
KEY = os.environ["UI_KEY"]
SHOTS = os.environ["UI_SHOTS"]
MIB = 1024 * 1024


def api(path, params=None, method="GET", body=None, key=KEY):
    url = f"{BASE}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def status_and_headers(path, key=None):
    req = urllib.request.Request(f"{BASE}{path}")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def fault(origin, faults):
    req = urllib.request.Request(
        f"{origin}/__sim/faults", method="PUT", data=json.dumps(faults).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 204, f"fault injection at {origin}: {resp.status}"


def ids(answer):
    return [item["id"] for item in answer["data"]]


def shown_ids(page):
    return page.eval_on_selector_all("#grid-body tr[data-id]", "rows => rows.map(r => r.dataset.id)")


def expect_rows(page, expected, step):
    """Waits until the table shows exactly `expected` (ids, in order)."""
    try:
        page.wait_for_function(
            "ids => JSON.stringify([...document.querySelectorAll('#grid-body tr[data-id]')]"
            ".map(r => r.dataset.id)) === JSON.stringify(ids)",
            arg=expected, timeout=8000,
        )
    except Exception:
        got = shown_ids(page)
        raise AssertionError(f"{step}: the table shows {len(got)} rows {got[:3]}..., the API {len(expected)} {expected[:3]}...")
    print(f"{step}: {len(expected)} rows as the API answers")


def shot(page, name, full=False):
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=full)


def main():
    # Static files: open without a key, typed, under the CSP; the API is not.
    for path, ctype in [("/ui", "text/html"), ("/ui/assets/app.js", "text/javascript"),
                        ("/ui/assets/app.css", "text/css"), ("/ui/assets/chart-4.5.1.umd.min.js", "text/javascript")]:
        code, headers = status_and_headers(path)
        assert code == 200, f"{path} without a key: {code}"
        assert headers["Content-Type"].startswith(ctype), f"{path}: {headers['Content-Type']}"
        assert headers["Content-Security-Policy"].startswith("default-src 'self'"), f"{path}: CSP {headers['Content-Security-Policy']}"
    code, _ = status_and_headers("/ui/assets/nope.js")
    assert code == 404, f"an unknown asset: {code}"
    code, _ = status_and_headers("/v1/isos")
    assert code == 401, f"the API without a key: {code}"
    spec = json.dumps(api("/openapi.json", key=None))
    assert "/ui" not in spec, "/ui is not part of the API document"

    errors = []
    expected_401 = True
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ["UI_CHROMIUM"],
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(8000)

        def on_console(msg):
            # Before the key is pasted, Chromium logs the refused fetches themselves.
            if msg.type == "error" and not (expected_401 and "status of 401" in msg.text):
                errors.append(msg.text)

        page.on("console", on_console)
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        requests = []
        page.on("request", lambda r: requests.append(r.url))

        # Keys: with no key the page says what the 401 means and opens the key field.
        page.goto(f"{BASE}/ui")
        page.wait_for_selector("#banner-error:not([hidden])")
        assert "401" in page.inner_text("#banner-error") and "key" in page.inner_text("#banner-error").lower()
        page.fill("#key-input", KEY)
        page.press("#key-input", "Enter")
        expected_401 = False
        first = api("/v1/isos", {"per_page": 50})
        expect_rows(page, ids(first), "first page")
        assert page.is_hidden("#banner-error"), "the 401 explanation stays after the key"
        assert page.evaluate("sessionStorage.getItem('isogate.apiKey')") == KEY, "the key is kept in sessionStorage"
        assert page.evaluate("localStorage.length") == 0, "nothing in localStorage"
        assert all(KEY not in u for u in requests), "the key appeared in a URL"
        assert page.inner_text("#summary").startswith(f"{first['meta']['total']} items")
        assert page.is_hidden("#banner-partial"), "a healthy answer shows no partial banner"
        shot(page, "catalogue-1280")
        # The README's picture (docs/ui.png is a copy): the top of the catalogue.
        page.screenshot(path=os.path.join(SHOTS, "readme.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 560})

        # Filters: provider and size range become provider= and filter= clauses.
        page.wait_for_selector("#f-provider option[value=hostkey]", state="attached")
        page.select_option("#f-provider", "hostkey")
        page.fill("#f-min", "1000")
        page.press("#f-min", "Enter")
        want = api("/v1/isos", {"provider": "hostkey", "filter": f"size_bytes,ge,{1000 * MIB}", "per_page": 50})
        assert 0 < len(want["data"]) < first["meta"]["total"], "the filter narrows the catalogue"
        expect_rows(page, ids(want), "provider and size filter")
        assert "provider=hostkey" in page.url and "min=1000" in page.url, f"the address bar holds the query: {page.url}"

        # Status and OS filters, then search.
        page.select_option("#f-provider", "")
        page.fill("#f-min", "")
        os_name = "Ubuntu 22.04 LTS"
        page.wait_for_selector(f"#f-os option[value='{os_name}']", state="attached")
        page.select_option("#f-os", os_name)
        expect_rows(page, ids(api("/v1/isos", {"filter": f"os.name,eq,{os_name}", "per_page": 50})), "OS filter")
        page.select_option("#f-os", "")
        page.fill("#f-q", "ubuntu")
        page.press("#f-q", "Enter")
        expect_rows(page, ids(api("/v1/isos", {"q": "ubuntu", "per_page": 50})), "search")
        page.select_option("#f-status", "ready")
        expect_rows(page, ids(api("/v1/isos", {"q": "ubuntu", "filter": "status,eq,ready", "per_page": 50})), "search and status")
        page.click("#f-reset")
        expect_rows(page, ids(first), "reset")

        # Sort: a header click sorts ascending, a second descending.
        page.click("button[aria-label='Sort by Size']")
        expect_rows(page, ids(api("/v1/isos", {"sort": "size_bytes,asc", "per_page": 50})), "sort by size ascending")
        page.click("button[aria-label='Sort by Size']")
        by_size = api("/v1/isos", {"sort": "size_bytes,desc", "per_page": 50})
        expect_rows(page, ids(by_size), "sort by size descending")
        assert page.get_attribute("th:has(button[aria-label='Sort by Size'])", "aria-sort") == "descending"

        # Paging: 10 per page, Next follows meta.next_cursor, Previous comes back.
        page.select_option("#per-page", "10")
        p1 = api("/v1/isos", {"sort": "size_bytes,desc", "per_page": 10})
        expect_rows(page, ids(p1), "page 1 of 10")
        page.click("#page-next")
        p2 = api("/v1/isos", {"sort": "size_bytes,desc", "per_page": 10, "cursor": p1["meta"]["next_cursor"]})
        expect_rows(page, ids(p2), "page 2 (cursor)")
        assert page.inner_text("#page-no") == "Page 2"
        page.click("#page-next")
        p3 = api("/v1/isos", {"sort": "size_bytes,desc", "per_page": 10, "cursor": p2["meta"]["next_cursor"]})
        expect_rows(page, ids(p3), "page 3 (cursor)")
        page.click("#page-prev")
        expect_rows(page, ids(p2), "back to page 2")
        # The address bar restores the view on reload (the key is in sessionStorage).
        page.reload()
        expect_rows(page, ids(p2), "page 2 after a reload")

        # Columns: the chooser adds a column and the link keeps it.
        page.click("#columns summary")
        page.check("#col-id")
        page.wait_for_selector("#grid-head button[aria-label='Sort by ID']")
        assert "cols=" in page.url
        page.click("#columns summary")

        # Drawer: every normalised field and the upstream object of raw=true.
        first_id = p2["data"][0]["id"]
        page.click(f"#grid-body tr[data-id='{first_id}']")
        page.wait_for_selector("#drawer pre.raw")
        item = api(f"/v1/isos/{urllib.parse.quote(first_id, safe='')}", {"raw": "true"})
        assert page.inner_text("#drawer-title") == item["name"]
        assert json.loads(page.inner_text("#drawer pre.raw")) == item["raw"], "the drawer shows the upstream object"
        fields = page.eval_on_selector_all("#drawer dl.fields dt", "dts => dts.map(d => d.textContent)")
        assert fields == [k for k in item if k != "raw"], f"every normalised field: {fields}"
        assert first_id in page.inner_text("#drawer dl.ids")
        assert "item=" in page.url
        shot(page, "drawer-1280")
        page.keyboard.press("Escape")
        page.wait_for_selector("#drawer", state="hidden")
        assert "item=" not in page.url

        # Keyboard: Enter on a focused row opens it.
        page.focus(f"#grid-body tr[data-id='{p2['data'][1]['id']}']")
        page.keyboard.press("Enter")
        page.wait_for_selector("#drawer pre.raw")
        page.keyboard.press("Escape")
        page.wait_for_selector("#drawer", state="hidden")

        # Stats: the charts follow the catalogue's filters; reset them first.
        page.click("#tab-catalogue")
        page.click("#f-reset")
        expect_rows(page, ids(api("/v1/isos", {"per_page": 10})), "reset before stats")
        page.click("#tab-stats")
        page.wait_for_function("() => document.querySelectorAll('#charts canvas').length === 8")
        stats = api("/v1/isos/stats", {"group_by": "provider"})
        assert page.inner_text("#stats-summary").startswith(f"{stats['meta']['total']} items")
        for group in ["provider", "os", "status", "zone"]:
            label = page.get_attribute(f".card[data-group={group}] canvas", "aria-label")
            assert label and ":" in label, f"the {group} chart has a text alternative"
        for row in stats["data"]:
            assert f"{row['group']['provider']}: {row['count']}" in page.get_attribute(".card[data-group=provider] canvas", "aria-label")
        # Chart.js drew something (a blank canvas has no non-transparent pixel).
        drawn = page.evaluate(
            "() => { const c = document.querySelector('.card[data-group=provider] canvas');"
            " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " for (let i = 3; i < d.length; i += 4) if (d[i]) return true; return false; }")
        assert drawn, "the provider chart is blank"
        page.wait_for_timeout(100)
        shot(page, "stats-1280", full=True)

        # Images: the coverage matrix and the releases, cell for cell as the API says.
        page.click("#tab-images")
        page.wait_for_selector("#coverage-body tr[data-identity]")
        cov = api("/v1/images/coverage")
        heads = page.eval_on_selector_all("#coverage-head th[data-provider]", "els => els.map(e => e.dataset.provider)")
        assert heads == cov["providers"], f"coverage columns: {heads}"
        cells = page.eval_on_selector_all(
            "#coverage-body tr", "rows => rows.map(r => [...r.querySelectorAll('td[data-cell]')].map(c => c.dataset.cell))")
        assert cells == [[r["cells"][p] for p in cov["providers"]] for r in cov["rows"]], "the coverage cells differ from the API's"
        for kind in ["present", "absent", "different"]:
            assert page.locator(f"#coverage-body td[data-cell={kind}]").count() >= 1, f"no {kind} cell in the demo"
        assert page.inner_text("#images-summary").startswith(f"{cov['meta']['total']} identities")
        hostkey = api("/v1/images", {"provider": "hostkey", "per_page": 500})["data"]
        families = sorted({g["family"] for g in hostkey})
        shown = sorted(page.eval_on_selector_all("#releases-body tr[data-provider=hostkey]", "rs => rs.map(r => r.dataset.family)"))
        assert shown == families, f"hostkey's releases: {shown} vs {families}"
        for g in hostkey:
            if g["version"]:
                row = page.inner_text(f"#releases-body tr[data-provider=hostkey][data-family='{g['family']}'] td.versions")
                assert g["version"] in row, f"{g['family']} {g['version']} not in {row}"
        shared = api("/v1/images/coverage", {"filter": "providers,ge,2"})
        assert 0 < len(shared["rows"]) < len(cov["rows"])
        page.check("#images-shared")
        page.wait_for_function(f"() => document.querySelectorAll('#coverage-body tr').length === {len(shared['rows'])}")
        assert "shared=1" in page.url, page.url
        shot(page, "images-1280", full=True)
        page.uncheck("#images-shared")
        page.wait_for_function(f"() => document.querySelectorAll('#coverage-body tr').length === {len(cov['rows'])}")

        # Sources: healthy first.
        page.click("#tab-sources")
        page.wait_for_selector("#sources-body tr[data-provider=vss-prod]")
        assert "ok" in page.inner_text("#sources-body tr[data-provider=vss-prod] td.status")
        assert "closed" in page.inner_text("#sources-body tr[data-provider=vss-prod]")
        shot(page, "sources-1280")

        # Faults: VSS fails with its listing cached (stale), Cox fails with
        # nothing cached (error); the partial banner names both.
        fault(os.environ["UI_SIM_VSS"], {"error_rate": 1.0})
        fault(os.environ["UI_SIM_COX"], {"error_rate": 1.0})
        api("/v1/cache/invalidate", method="POST", body={"providers": ["coxedge-images"]})
        page.click("#sources-refresh")
        page.wait_for_selector("#banner-partial:not([hidden])")
        page.wait_for_function("() => document.querySelector('#sources-body tr[data-provider=coxedge-images] td.status').textContent.includes('error')")
        vss = page.inner_text("#sources-body tr[data-provider=vss-prod] td.status")
        cox = page.inner_text("#sources-body tr[data-provider=coxedge-images] td.status")
        assert "stale" in vss and "old" in vss and "503" in vss, f"vss-prod: {vss}"
        assert "error" in cox and "injected failure" in cox, f"coxedge-images: {cox}"
        banner = page.inner_text("#banner-partial")
        assert "vss-prod is stale" in banner and "coxedge-images failed" in banner, banner
        assert "ok" in page.inner_text("#sources-body tr[data-provider=hostkey] td.status")
        shot(page, "sources-faulted-1280")
        # The catalogue says so too: badges and the banner.
        page.click("#tab-catalogue")
        page.wait_for_function("() => document.querySelector('#source-strip').textContent.includes('error')")
        assert page.is_visible("#banner-partial")

        # A phone's width: no sideways scroll of the page itself.
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_timeout(150)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width}px wide at 390px"
        shot(page, "catalogue-390")
        page.click("#grid-body tr[data-id]")
        page.wait_for_selector("#drawer pre.raw")
        shot(page, "drawer-390")
        page.click("#drawer-close")
        page.click("#tab-stats")
        page.wait_for_function("() => document.querySelectorAll('#charts canvas').length === 8")
        # Charts drawn at 1280 px are resized by Chart.js's observer a frame later.
        try:
            page.wait_for_function("() => document.documentElement.scrollWidth <= 390", timeout=3000)
        except Exception:
            wide = page.evaluate("[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 391)"
                                 ".map(e => e.tagName + '.' + e.className).slice(0, 5)")
            raise AssertionError(f"the stats are wider than 390px: {wide}")
        shot(page, "stats-390", full=True)
        page.click("#tab-images")
        page.wait_for_selector("#coverage-body tr[data-identity]")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the images view is {width}px wide at 390px"
        shot(page, "images-390")
        page.click("#tab-sources")
        page.wait_for_selector("#sources-body tr[data-provider=vss-prod]")
        shot(page, "sources-faulted-390")

        # Dark: the system's preference switches the palette.
        light = page.evaluate("getComputedStyle(document.body).backgroundColor")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.emulate_media(color_scheme="dark")
        page.click("#tab-catalogue")
        page.wait_for_selector("#grid-body tr[data-id]")
        dark = page.evaluate("getComputedStyle(document.body).backgroundColor")
        assert light != dark, f"the same background in light and dark: {light}"
        shot(page, "catalogue-dark-1280")

        fault(os.environ["UI_SIM_VSS"], {})
        fault(os.environ["UI_SIM_COX"], {})

        # A catalogue change appears live: an import through the API while
        # the page shows a search for it; no reload, the feed brings it.
        page.emulate_media(color_scheme="light")
        page.goto(f"{BASE}/ui?q=ui-live-test")
        page.wait_for_function("() => document.querySelector('#live-state').dataset.state === 'live'")
        page.wait_for_function("() => document.querySelector('#summary').textContent.startsWith('0 items')")
        zone = api("/v1/providers/coxedge-prod/isos", {"per_page": 1})["data"][0]["zones"][0]["id"]
        api("/v1/providers/coxedge-prod/isos", method="POST",
            body={"name": "ui-live-test", "url": "http://mirror.example.org/ui-live.iso", "zone_id": zone})
        try:
            page.wait_for_function(
                "() => [...document.querySelectorAll('#grid-body tr[data-id]')].some(r => r.textContent.includes('ui-live-test'))")
        except Exception:
            raise AssertionError("the imported item did not appear in the open catalogue within 8 s")
        page.click("#tab-live")
        row = "#live-body tr[data-type='iso.added']"
        page.wait_for_selector(row)
        text = page.inner_text(row)
        assert "ui-live-test" in text and "coxedge-prod" in text, f"the Live view shows: {text}"
        assert page.evaluate("localStorage.length") == 0, "nothing in localStorage"
        assert all(KEY not in u for u in requests), "the key appeared in a URL"
        shot(page, "live-1280")
        browser.close()

    assert not errors, f"console errors: {errors}"
    print("ui ok")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        raise
