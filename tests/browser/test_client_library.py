"""@qahub/notifications in Chromium against the real system: token renewal, the README's
web-page and React snippets (DESIGN §10)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from playwright.async_api import BrowserContext, Page, Route, expect
from tests.api.conftest import SECRET
from tests.browser.conftest import Demo
from tests.browser.test_one_stream_per_browser import one_stream
from tests.support.readme import readme_snippet
from tests.support.servers import eventually

from qahub_contracts.auth import mint_token

HTML = "text/html; charset=utf-8"
REACT_APP = Path(__file__).parent / "react_app"

# A page that counts what the stream delivers: every `notification` frame's id, every
# stream opened. It loads the client as a page would, from the relay's /static/.
RENEWAL_PAGE = """<!doctype html><meta charset="utf-8"><title>renewal</title>
<script type="module">
  const Native = window.EventSource;
  window.delivered = []; window.opened = 0; window.statuses = []; window.connects = [];
  window.EventSource = class extends Native {
    constructor(url, init) { super(url, init); this.url_ = url; window.opened += 1; }
    addEventListener(name, listener, options) {
      const counted = name === "notification"
        ? (e) => { window.delivered.push(JSON.parse(e.data).id); listener(e); }
        : name === "connected"
        ? (e) => { window.connects.push([this.url_.includes("lastEventId"), e.data]); listener(e); }
        : listener;
      super.addEventListener(name, counted, options);
    }
  };
  const { createInbox } = await import("/static/qahub-notifications.js");
  const inbox = createInbox({ apiUrl: "", getToken: () => window.mintToken() });
  inbox.subscribe((s) => {
    window.state = s;
    if (window.statuses.at(-1) !== s.status) window.statuses.push(s.status);
  });
</script>"""


async def serve(context: BrowserContext, url: str, body: str | bytes, content_type: str) -> None:
    """Answer ``url`` in this browser with ``body`` (a page of the test's, same origin)."""

    async def answer(route: Route) -> None:
        await route.fulfill(status=200, body=body, content_type=content_type)

    await context.route(url, answer)


async def serve_tokens(context: BrowserContext, demo: Demo, user: str) -> None:
    """``/auth/token``: the app's token endpoint the README snippets call."""

    async def answer(route: Route) -> None:
        await route.fulfill(status=200, body=mint_token(SECRET, user), content_type="text/plain")

    await context.route(f"{demo.base}/auth/token", answer)


class TestTokenRenewal:
    """12-second tokens, a minute of traffic: renewed, no gap, no duplicate, never signed out."""

    async def test_short_tokens_are_renewed_across_a_minute_of_traffic(
        self, demo: Demo, page: Page
    ):
        minted: list[str] = []

        def mint() -> str:
            minted.append(mint_token(SECRET, "42", ttl_seconds=12))
            return minted[-1]

        await page.expose_function("mintToken", mint)
        await serve(page.context, f"{demo.base}/renewal.html", RENEWAL_PAGE, HTML)
        await page.goto(f"{demo.base}/renewal.html")
        # Loaded (snapshot in): a notification created from now on is news, sent as an event.
        await page.wait_for_function("window.state?.status === 'live' && !window.state.loading")
        created: list[str] = []
        for i in range(30):  # one notification every 2 s for a minute
            created.append((await demo.api.create("42", f"traffic {i}"))["id"])
            await asyncio.sleep(2)
        await page.wait_for_function(
            "window.state.notifications.length === 30 && !window.state.loading"
        )
        seen: dict[str, Any] = await page.evaluate(
            "({delivered: window.delivered, opened: window.opened, statuses: window.statuses,"
            " total: window.state.stats.total, listed: window.state.notifications.map(n => n.id),"
            " connects: window.connects})"
        )
        missing = set(created) - set(seen["delivered"])
        assert sorted(seen["delivered"]) == sorted(created), (
            f"lost or twice: missing {missing} (index {[created.index(m) for m in missing]}),"
            f" connects {seen['connects']}"
        )
        assert sorted(seen["listed"]) == sorted(created)
        assert seen["total"] == 30
        assert seen["statuses"] == ["connecting", "live"], "the status flickered"
        assert len(minted) >= 6, f"only {len(minted)} tokens in a minute of 12-second tokens"
        assert seen["opened"] >= 6
        assert await one_stream(demo, "42")


class TestReadmeSnippets:
    """The README's "Use it in a web page" and "Use it in React" snippets, run as written."""

    async def test_the_web_page_snippet_lists_live_notifications(self, demo: Demo, page: Page):
        snippet = readme_snippet("Use it in a web page", "html")
        await serve(page.context, f"{demo.base}/snippet.html", snippet, HTML)
        await serve_tokens(page.context, demo, "42")
        # One notification before the page opens: once it is listed, the page's snapshot is in
        # and the next one is news to it (a creation racing the snapshot lands in `recent`).
        await demo.api.create("42", "waiting already", "readme.before")
        await page.goto(f"{demo.base}/snippet.html")
        await expect(page.locator("#unread")).to_have_text("1 unread · live")
        await demo.api.create("42", {"title": "From the README"}, "readme.example")
        item = page.locator("#inbox li", has_text="readme.example")
        await expect(item).to_contain_text('readme.example: {"title":"From the README"}')
        await expect(page.locator("#unread")).to_have_text("2 unread · live")
        await item.click()
        await expect(page.locator("#unread")).to_have_text("1 unread · live")
        await expect(page.locator("#inbox li").first).to_have_text(
            'readme.example: {"title":"From the README"}'  # read: no dot; newest first
        )

    async def test_the_react_snippet_renders_live_notifications(
        self, demo: Demo, page: Page, typescript_package: Path, tmp_path: Path
    ):
        (tmp_path / "App.tsx").write_text(readme_snippet("Use it in React", "tsx"))
        shutil.copy(REACT_APP / "main.tsx", tmp_path / "main.tsx")
        build = await asyncio.create_subprocess_exec(
            "node",
            str(REACT_APP / "build.mjs"),
            str(tmp_path),
            str(tmp_path / "app.js"),
            cwd=typescript_package,
        )
        assert await asyncio.wait_for(build.wait(), 120) == 0, "the React page did not build"
        html = '<!doctype html><meta charset="utf-8"><div id="root"></div>'
        html += '<script type="module" src="/react/app.js"></script>'
        await serve(page.context, f"{demo.base}/react/", html, HTML)
        app = (tmp_path / "app.js").read_bytes()
        await serve(page.context, f"{demo.base}/react/app.js", app, "text/javascript")
        await serve_tokens(page.context, demo, "42")
        await demo.api.create("42", "waiting already")  # listed once the snapshot is in
        await page.goto(f"{demo.base}/react/")
        heading = page.get_by_role("heading")
        await expect(heading).to_have_text("Inbox · 1 unread")
        await demo.api.create("42", {"title": "Rendered by React"})
        row = page.locator("li", has_text="Rendered by React")
        await expect(row).to_have_class("unread")
        await expect(heading).to_have_text("Inbox · 2 unread")
        await row.get_by_role("button", name="Mark read").click()
        await expect(heading).to_have_text("Inbox · 1 unread")
        await expect(row).to_have_class("read")
        # StrictMode mounted, unmounted and mounted again: one stream is left.
        await eventually(lambda: one_stream(demo, "42"), timeout=10, what="one stream")
