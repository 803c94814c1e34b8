"""One stream per browser: the demo's tabs elect a leader that holds the only stream.

DESIGN §10: the tabs of one origin and user share one live stream (Web Locks +
BroadcastChannel); when the leader closes another tab takes over within 2 s,
resuming from the newest id any tab saw, so nothing is lost and nothing shown twice.
"""

from __future__ import annotations

import time

from playwright.async_api import Page, expect
from tests.api.conftest import SECRET
from tests.browser.conftest import Demo
from tests.browser.test_demo_page import open_inbox
from tests.support.servers import eventually

from qahub_contracts.auth import mint_token

TABS = 6


async def user_streams(demo: Demo, user: str) -> int:
    """How many streams of ``user`` the relay holds (its connections endpoint)."""
    answer = await demo.api.http.get(
        "/api/v1/notifications/stream/connections", headers=demo.api.auth(user)
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["user"])


async def one_stream(demo: Demo, user: str) -> bool:
    return await user_streams(demo, user) == 1


async def open_tabs(page: Page, url: str, count: int) -> list[Page]:
    """``count`` tabs of one browser, opened one after the other (the first one leads)."""
    tabs = [page]
    await open_inbox(page, url)
    for _ in range(count - 1):
        tab = await page.context.new_page()
        await open_inbox(tab, url)
        tabs.append(tab)
    return tabs


async def listed_once_each(tab: Page, ids: list[str]) -> None:
    rows = tab.locator("#list li")
    await expect(rows).to_have_count(len(ids))
    shown = await rows.evaluate_all("els => els.map(e => e.dataset.id)")
    assert sorted(shown) == sorted(ids), "a notification is missing or shown twice"
    await expect(tab.locator("#unread")).to_have_text(f"{len(ids)} unread")


class TestOneStreamPerBrowser:
    """Six tabs of one user hold one stream, and every tab shows every notification."""

    async def test_six_tabs_hold_one_stream_and_all_show_a_new_notification(
        self, demo: Demo, page: Page
    ):
        tabs = await open_tabs(page, demo.url("42"), TABS)
        await eventually(
            lambda: one_stream(demo, "42"),
            timeout=10,
            what="the relay to count one stream of user 42",
        )
        created = await demo.api.create("42", {"title": "Seen by every tab"})
        for tab in tabs:
            await expect(tab.locator(f"#n-{created['id']}")).to_contain_text("Seen by every tab")
            await expect(tab.locator("#unread")).to_have_text("1 unread")
            await expect(tab.locator("#state")).to_have_attribute("data-state", "connected")
        assert await user_streams(demo, "42") == 1

    async def test_closing_the_leader_then_the_next_loses_and_doubles_nothing(
        self, demo: Demo, page: Page
    ):
        tabs = await open_tabs(page, demo.url("42"), 4)
        ids = [(await demo.api.create("42", "before any hand-over"))["id"]]
        for tab in tabs:
            await listed_once_each(tab, ids)
        for round_ in range(2):  # close the leader, then the tab that took over
            leader, tabs = tabs[0], tabs[1:]
            await leader.close()
            started = time.monotonic()
            ids.append((await demo.api.create("42", f"right after hand-over {round_}"))["id"])
            # The promise: another tab leads within 2 s and the news reaches every tab.
            for tab in tabs:
                await expect(tab.locator(f"#n-{ids[-1]}")).to_be_visible(timeout=2_000)
            assert time.monotonic() - started < 2.5
            ids += [(await demo.api.create("42", f"later {round_}.{i}"))["id"] for i in range(3)]
            for tab in tabs:
                await listed_once_each(tab, ids)
            await eventually(
                lambda: one_stream(demo, "42"),
                timeout=10,
                what="one stream after the hand-over",
            )


class TestSignInAgain:
    """A fresh token pasted in any tab signs every tab of that user in again."""

    async def test_a_token_pasted_in_a_tab_that_does_not_hold_the_stream(
        self, demo: Demo, page: Page
    ):
        expired = demo.url("42", ttl_seconds=-60)
        tabs = [page, await page.context.new_page()]
        for tab in tabs:  # the first tab holds the stream: it was elected first
            await tab.goto(expired)
            await expect(tab.locator("#state")).to_have_attribute("data-state", "signed-out")
            await tab.get_by_role("button", name="Notifications").click()
        await tabs[1].get_by_label("Access token (JWT)").fill(mint_token(SECRET, "42"))
        await tabs[1].get_by_role("button", name="Sign in").click()
        created = await demo.api.create("42", "signed in again")
        for tab in tabs:
            await expect(tab.locator("#state")).to_have_attribute("data-state", "connected")
            await expect(tab.locator(f"#n-{created['id']}")).to_be_visible()
        await eventually(lambda: one_stream(demo, "42"), timeout=10, what="one stream")


class TestWithoutWebLocks:
    """A browser without Web Locks: every tab connects by itself, and still works."""

    async def test_each_tab_holds_its_own_stream(self, demo: Demo, page: Page):
        await page.context.add_init_script("delete Navigator.prototype.locks")
        tabs = await open_tabs(page, demo.url("42"), 3)
        await eventually(
            lambda: streams_are(demo, "42", 3), timeout=10, what="three streams of user 42"
        )
        created = await demo.api.create("42", "to every tab")
        for tab in tabs:
            await expect(tab.locator(f"#n-{created['id']}")).to_be_visible()


async def streams_are(demo: Demo, user: str, count: int) -> bool:
    return await user_streams(demo, user) == count
