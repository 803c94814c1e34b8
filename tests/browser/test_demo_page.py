"""The demo inbox in a real browser: live list, unread, actions, and EventSource's own replay."""

from __future__ import annotations

import time
from pathlib import Path

from playwright.async_api import Page, expect
from tests.api.conftest import SECRET, Api, api_settings, migrate
from tests.browser.conftest import RETRY_MS, Demo
from tests.support.servers import child, eventually, free_port, serving, wait_http_ok

from notifications_api.app import create_app as create_api
from qahub_contracts.auth import mint_token


async def open_inbox(page: Page, url: str, *, open_list: bool = True) -> None:
    """Open the page and wait until its list is loaded (the API's page and the stream's
    snapshot): a notification created after that is news to the page. ``open_list``
    opens the list with the bell, which marks what it shows seen."""
    await page.goto(url)
    await expect(page.locator("#state")).to_have_attribute("data-state", "connected")
    await expect(page.locator("#list")).to_have_attribute("aria-busy", "false")
    if open_list:
        await page.get_by_role("button", name="Notifications").click()
        await expect(page.locator("#panel")).to_be_visible()


async def stats_are(demo: Demo, user: str, **expected: int) -> bool:
    stats = await demo.api.stats(user)
    return all(stats[key] == value for key, value in expected.items())


class TestLiveList:
    """A notification created by a POST shows up in the open page, newest first."""

    async def test_a_posted_notification_appears_within_a_second(self, demo: Demo, page: Page):
        await open_inbox(page, demo.url("42"))
        started = time.monotonic()
        created = await demo.api.create("42", {"title": "Invoice 1001 paid"}, "invoice.paid")
        item = page.locator(f"#n-{created['id']}")
        await expect(item).to_contain_text("Invoice 1001 paid", timeout=1000)
        assert time.monotonic() - started < 1.0
        await expect(item).to_contain_text("invoice.paid")
        await expect(page.locator("#announce")).to_have_text("New notification: Invoice 1001 paid")

    async def test_newest_first_and_other_users_never_shown(self, demo: Demo, page: Page):
        await open_inbox(page, demo.url("42"))
        first = await demo.api.create("42", "first")
        await demo.api.create("someone-else", "private")
        second = await demo.api.create("42", "second")
        rows = page.locator("#list li")
        await expect(rows).to_have_count(2)
        assert await rows.evaluate_all("els => els.map(e => e.dataset.id)") == [
            second["id"],
            first["id"],
        ]
        await expect(page.locator("#list")).not_to_contain_text("private")

    async def test_reload_lists_read_and_unread_from_the_api(self, demo: Demo, page: Page):
        unread = await demo.api.create("42", "still unread")
        read = await demo.api.create("42", "already read")
        await demo.api.http.patch(
            f"/api/v1/notifications/{read['id']}", json={"read": True}, headers=demo.api.auth("42")
        )
        await open_inbox(page, demo.url("42"))
        await expect(page.locator(f"#n-{unread['id']}")).to_have_class("unread")
        await expect(page.locator(f"#n-{read['id']}")).to_have_class("")
        await expect(page.locator("#unread")).to_have_text("1 unread")


class TestUnreadAndActions:
    """The list counts unread; mark read/unread, delete and mark all read go to the API."""

    async def test_unread_count_and_mark_read_updates_it(self, demo: Demo, page: Page):
        await open_inbox(page, demo.url("42"))
        notes = [await demo.api.create("42", f"note {i}") for i in range(3)]
        unread = page.locator("#unread")
        await expect(unread).to_have_text("3 unread")
        await page.get_by_role("button", name="Mark read: note 1").click()
        await expect(unread).to_have_text("2 unread")
        await expect(page.locator(f"#n-{notes[1]['id']}")).not_to_have_class("unread")
        await expect(page.locator("#announce")).to_have_text("Marked read: note 1")
        # The page updates at once (optimistically); the API has it once its answer is in.
        await eventually(
            lambda: stats_are(demo, "42", unread=2), timeout=10, what="the API's unread == 2"
        )
        await page.get_by_role("button", name="Mark unread: note 1").click()
        await expect(unread).to_have_text("3 unread")

    async def test_delete_and_mark_all_read(self, demo: Demo, page: Page):
        await open_inbox(page, demo.url("42"))
        notes = [await demo.api.create("42", f"note {i}") for i in range(3)]
        await expect(page.locator("#list li")).to_have_count(3)
        await page.get_by_role("button", name="Delete: note 0").click()
        await expect(page.locator(f"#n-{notes[0]['id']}")).to_have_count(0)
        await expect(page.locator("#unread")).to_have_text("2 unread")
        await page.get_by_role("button", name="Mark all read").click()
        await expect(page.locator("#unread")).to_have_text("0 unread")
        await expect(page.locator("#list li.unread")).to_have_count(0)
        await eventually(
            lambda: stats_are(demo, "42", total=2, unread=0, read=2),
            timeout=10,
            what="the API's stats {total: 2, unread: 0, read: 2}",
        )


class TestSignedOut:
    """EventSource gives up for good on a 401: the page says why and reopens by itself."""

    async def test_expired_token_shows_signed_out_then_a_fresh_token_connects(
        self, demo: Demo, page: Page
    ):
        await page.goto(demo.url("42", ttl_seconds=-60))
        state = page.locator("#state")
        await expect(state).to_have_attribute("data-state", "signed-out")
        await expect(state).to_contain_text("token expired")
        await expect(page.locator("#signin")).to_be_visible()
        await page.get_by_label("Access token (JWT)").fill(mint_token(SECRET, "42"))
        await page.get_by_role("button", name="Sign in").click()
        await expect(state).to_have_attribute("data-state", "connected")
        await page.get_by_role("button", name="Notifications").click()
        created = await demo.api.create("42", "after sign-in")
        await expect(page.locator(f"#n-{created['id']}")).to_be_visible()


class TestPhoneWidth:
    """At 360 px nothing scrolls sideways and every action stays reachable."""

    async def test_no_horizontal_scroll_and_actions_visible(self, demo: Demo, page: Page):
        await page.set_viewport_size({"width": 360, "height": 740})
        await open_inbox(page, demo.url("42"))
        await demo.api.create("42", {"title": "A rather long title " * 8})
        await expect(page.get_by_role("button", name="Delete: A rather")).to_be_visible()
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0


class TestBrowserReconnect:
    """Chromium's own EventSource survives a relay crash and replays what it missed."""

    async def test_relay_killed_and_restarted_replays_missed_events(
        self, page: Page, sqlite_url: str, rabbitmq_url: str, tmp_path: Path
    ):
        await migrate(sqlite_url)
        settings = api_settings(sqlite_url, rabbitmq_url)
        async with serving(create_api(settings)) as api_url:
            import httpx  # noqa: PLC0415

            async with httpx.AsyncClient(base_url=api_url, timeout=30) as http:
                api = Api(http, settings)
                port = free_port()
                relay = f"http://127.0.0.1:{port}"
                env = {
                    "RABBITMQ_URL": rabbitmq_url,
                    "JWT_SECRET": SECRET,
                    "NOTIFICATIONS_API_URL": api_url,
                    "SSE_RETRY_MS": str(RETRY_MS),
                    "EVENT_LOG_MAX_AGE": "1h",
                }
                args = ["relay", "--port", str(port)]
                with child(args, env, tmp_path / "relay-1.log") as first:
                    await wait_http_ok(f"{relay}/readyz", timeout=30)
                    await open_inbox(page, f"{relay}/?token={mint_token(SECRET, '42')}")
                    seen = await api.create("42", "before the crash")
                    await expect(page.locator(f"#n-{seen['id']}")).to_be_visible()
                    first.kill()
                state = page.locator("#state")
                await expect(state).to_have_attribute("data-state", "reconnecting")
                missed = [await api.create("42", f"missed {i}") for i in range(3)]
                with child(args, env, tmp_path / "relay-2.log"):
                    await expect(state).to_have_text(
                        "Connected · replayed 3 missed events", timeout=30_000
                    )
                    rows = page.locator("#list li")
                    await expect(rows).to_have_count(4)
                    ids = await rows.evaluate_all("els => els.map(e => e.dataset.id)")
                    assert ids == [n["id"] for n in reversed([seen, *missed])]
                    await expect(page.locator("#unread")).to_have_text("4 unread")


def _luminance(rgb: str) -> float:
    """Relative luminance (WCAG 2) of a CSS ``rgb(r, g, b)`` colour."""
    channels = [int(part) / 255 for part in rgb[rgb.index("(") + 1 : -1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    lighter, darker = sorted([_luminance(a), _luminance(b)], reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


class TestAddressAndAccessibility:
    """The token leaves the address; unread is more than a tint; actions fit the state."""

    async def test_the_token_is_removed_from_the_address_once_read(self, demo: Demo, page: Page):
        await open_inbox(page, demo.url("42"))
        assert "token" not in page.url
        assert await page.evaluate("location.search") == ""
        # replaced in place: the address with the token is not in the tab's history either
        await page.go_back()
        assert "token" not in page.url

    async def test_dev_serves_the_page_with_its_security_headers(self, demo: Demo, page: Page):
        """`qahub-notify dev` (one origin) serves what every relay serves, headers included."""
        answer = await page.goto(demo.url("42"))
        assert answer is not None
        headers = await answer.all_headers()
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-content-type-options"] == "nosniff"
        assert "script-src 'self'" in headers["content-security-policy"]
        violations: list[str] = []
        page.on(
            "console", lambda m: violations.append(m.text) if "Content Security" in m.text else None
        )
        await page.reload()
        await expect(page.locator("#list")).to_have_attribute("aria-busy", "false")
        assert violations == []

    async def test_unread_rows_are_announced_and_marked_by_more_than_a_tint(
        self, demo: Demo, page: Page
    ):
        await open_inbox(page, demo.url("42"))
        unread = await demo.api.create("42", "look at me")
        read = await demo.api.create("42", "seen already")
        await page.get_by_role("button", name="Mark read: seen already").click()
        row = page.locator(f"#n-{unread['id']}")
        await expect(row.locator(".text")).to_have_text("Unread: look at me")
        await expect(page.locator(f"#n-{read['id']} .text")).to_have_text("Read: seen already")
        bar, background, width = await row.evaluate(
            "el => { const s = getComputedStyle(el);"
            " return [s.borderLeftColor, s.backgroundColor, s.borderLeftWidth]; }"
        )
        assert width == "4px"
        assert contrast(bar, background) >= 3.0, (bar, background)
        read_bar = await page.locator(f"#n-{read['id']}").evaluate(
            "el => getComputedStyle(el).borderLeftColor"
        )
        assert read_bar == "rgba(0, 0, 0, 0)"  # no bar on a read row

    async def test_mark_all_read_is_disabled_at_zero_unread(self, demo: Demo, page: Page):
        await open_inbox(page, demo.url("42"))
        mark_all = page.get_by_role("button", name="Mark all read")
        await expect(mark_all).to_be_disabled()
        await demo.api.create("42", "one")
        await expect(mark_all).to_be_enabled()
        await mark_all.click()
        await expect(mark_all).to_be_disabled()

    async def test_load_more_lists_the_pages_past_the_first(self, demo: Demo, page: Page):
        created = [await demo.api.create("42", f"old {i}") for i in range(53)]
        await open_inbox(page, demo.url("42"))
        rows = page.locator("#list li")
        await expect(rows).to_have_count(50)
        await page.get_by_role("button", name="Load more").click()
        await expect(rows).to_have_count(53)
        await expect(page.get_by_role("button", name="Load more")).to_be_hidden()
        ids = await rows.evaluate_all("els => els.map(e => e.dataset.id)")
        assert ids == [n["id"] for n in reversed(created)]
