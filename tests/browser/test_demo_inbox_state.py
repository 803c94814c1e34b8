"""The demo inbox's state (DESIGN §13) in a real browser: the unseen badge, archive, mute.

The bell's badge counts unseen notifications and opening the list marks them seen;
Archive takes a notification out of the list; the preferences panel mutes a type.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect
from tests.browser.conftest import Demo
from tests.browser.test_demo_page import open_inbox, stats_are
from tests.support.servers import ROOT, eventually

SCREENSHOT = ROOT / "docs" / "demo.png"


async def post(demo: Demo, to: str, type_: str, data: object) -> httpx.Response:
    """A create as a service sends it: the answer as it is (201, or 200 when suppressed)."""
    body = {"type": type_, "notifiableType": "user", "notifiableId": to, "data": data}
    return await demo.api.http.post("/api/v1/notifications", json=body, headers=demo.api.service())


async def preferences_of(demo: Demo, user: str) -> dict[str, Any]:
    answer = await demo.api.http.get(
        "/api/v1/notifications/preferences", headers=demo.api.auth(user)
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def listed_ids(demo: Demo, user: str, status: str) -> list[str]:
    answer = await demo.api.http.get(
        "/api/v1/notifications", params={"status": status}, headers=demo.api.auth(user)
    )
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


class TestUnseenBadge:
    """The badge counts unseen; opening the list marks them seen through the API."""

    async def test_opening_the_list_clears_the_badge_and_the_apis_unseen(
        self, demo: Demo, page: Page
    ):
        await open_inbox(page, demo.url("42"), open_list=False)
        for i in range(3):
            await demo.api.create("42", f"note {i}")
        badge = page.locator("#badge")
        bell = page.get_by_role("button", name="Notifications")
        await expect(badge).to_have_text("3")
        await expect(badge).to_have_attribute("aria-label", "3 unseen")
        await expect(bell).to_have_attribute("aria-label", "Notifications, 3 unseen")
        await expect(bell).to_have_attribute("aria-expanded", "false")
        await expect(page.locator("#panel")).to_be_hidden()
        await bell.focus()  # the keyboard opens it too
        await page.keyboard.press("Enter")
        await expect(bell).to_have_attribute("aria-expanded", "true")
        await expect(badge).to_have_text("0")
        await expect(badge).to_have_attribute("aria-label", "0 unseen")
        # Seen is not read: the rows keep their unread styling.
        await expect(page.locator("#list li.unread")).to_have_count(3)
        await eventually(
            lambda: stats_are(demo, "42", unseen=0, unread=3),
            timeout=10,
            what="the API's stats {unseen: 0, unread: 3}",
        )

    async def test_news_is_seen_while_the_list_is_open_and_counted_when_closed(
        self, demo: Demo, page: Page
    ):
        await open_inbox(page, demo.url("42"))
        badge = page.locator("#badge")
        first = await demo.api.create("42", "while open")
        await expect(page.locator(f"#n-{first['id']}")).to_be_visible()
        await eventually(
            lambda: stats_are(demo, "42", unseen=0, unread=1),
            timeout=10,
            what="the API's unseen == 0 for news shown in the open list",
        )
        await expect(badge).to_have_text("0")
        await page.get_by_role("button", name="Notifications").click()
        await expect(page.locator("#panel")).to_be_hidden()
        await demo.api.create("42", "while closed")
        await expect(badge).to_have_text("1")
        assert await stats_are(demo, "42", unseen=1, unread=2)

    async def test_the_badge_stays_cleared_for_reads_in_another_tab_and_a_reload(
        self, demo: Demo, page: Page
    ):
        await open_inbox(page, demo.url("42"), open_list=False)
        for i in range(2):
            await demo.api.create("42", f"note {i}")
        badge = page.locator("#badge")
        await expect(badge).to_have_text("2")
        await page.get_by_role("button", name="Notifications").click()
        await expect(badge).to_have_text("0")
        await eventually(
            lambda: stats_are(demo, "42", unseen=0), timeout=10, what="the API's unseen == 0"
        )
        other = await page.context.new_page()
        await open_inbox(other, demo.url("42"))
        await other.get_by_role("button", name="Mark read: note 0").click()
        await expect(page.locator("#unread")).to_have_text("1 unread")  # the read reached us
        await expect(badge).to_have_text("0")
        await other.get_by_role("button", name="Mark unread: note 0").click()
        await expect(page.locator("#unread")).to_have_text("2 unread")
        await expect(badge).to_have_text("0")
        assert await stats_are(demo, "42", unseen=0)
        await other.close()
        await page.reload()  # the list starts closed: nothing marks seen here
        await expect(page.locator("#list")).to_have_attribute("aria-busy", "false")
        await expect(page.get_by_role("button", name="Notifications")).to_have_attribute(
            "aria-expanded", "false"
        )
        await expect(page.locator("#unread")).to_have_text("2 unread")  # the stream's stats
        await expect(badge).to_have_text("0")


class TestArchive:
    """Archive takes a notification out of the list; the API lists it under archived."""

    async def test_archive_removes_the_row_and_the_api_lists_it_as_archived(
        self, demo: Demo, page: Page
    ):
        await open_inbox(page, demo.url("42"))
        notes = [await demo.api.create("42", f"note {i}") for i in range(2)]
        await expect(page.locator("#list li")).to_have_count(2)
        await page.get_by_role("button", name="Archive: note 0").click()
        await expect(page.locator(f"#n-{notes[0]['id']}")).to_have_count(0)
        await expect(page.locator("#announce")).to_have_text("Archived: note 0")
        await expect(page.locator("#unread")).to_have_text("1 unread")

        async def archived() -> bool:
            return await listed_ids(demo, "42", "archived") == [notes[0]["id"]]

        await eventually(archived, timeout=10, what="note 0 listed under status=archived")
        assert await listed_ids(demo, "42", "all") == [notes[1]["id"]]
        await page.reload()
        await expect(page.locator("#list")).to_have_attribute("aria-busy", "false")
        assert await page.locator("#list li").evaluate_all("els => els.map(e => e.dataset.id)") == [
            notes[1]["id"]
        ]


class TestPreferences:
    """A checkbox per type mutes its in-app delivery; the rest of the preferences stay."""

    async def test_muting_suppresses_a_type_others_still_show_and_unmuting_restores(
        self, demo: Demo, page: Page
    ):
        kept = {"default": {"inApp": True}, "types": {"digest": {"inApp": False}}}
        answer = await demo.api.http.put(
            "/api/v1/notifications/preferences", json=kept, headers=demo.api.auth("42")
        )
        assert answer.status_code == 200, answer.text
        await open_inbox(page, demo.url("42"))
        await demo.api.create("42", "Invoice 1 paid", "invoice.paid")
        await page.get_by_role("button", name="Preferences").click()
        await expect(page.get_by_role("checkbox", name="Mute digest")).to_be_checked()
        await expect(page.get_by_role("checkbox", name="Mute invoice.paid")).not_to_be_checked()
        await page.get_by_label("Another type").fill("build.failed")
        await page.get_by_role("button", name="Add type").click()
        mute = page.get_by_role("checkbox", name="Mute build.failed")
        await expect(mute).to_be_focused()
        await mute.check()
        await expect(page.locator("#prefs-status")).to_have_text("Saved: muted build.failed")
        types = {"digest": {"inApp": False}, "build.failed": {"inApp": False}}
        assert await preferences_of(demo, "42") == {"default": {"inApp": True}, "types": types}

        muted = await post(demo, "42", "build.failed", "Nightly build failed")
        assert muted.status_code == 200, muted.text
        assert muted.json() == {"suppressed": True, "reason": "preference"}
        shown = await demo.api.create("42", "Invoice 2 paid", "invoice.paid")
        await expect(page.locator(f"#n-{shown['id']}")).to_be_visible()
        await expect(page.locator("#list li")).to_have_count(2)
        await expect(page.locator("#list")).not_to_contain_text("Nightly build failed")

        await mute.uncheck()
        await expect(page.locator("#prefs-status")).to_have_text("Saved: unmuted build.failed")
        types["build.failed"] = {"inApp": True}
        assert await preferences_of(demo, "42") == {"default": {"inApp": True}, "types": types}
        back = await demo.api.create("42", "Build fixed", "build.failed")
        await expect(page.locator(f"#n-{back['id']}")).to_contain_text("Build fixed")


@pytest.mark.skipif(
    not os.environ.get("UPDATE_DEMO_SCREENSHOT"), reason="set UPDATE_DEMO_SCREENSHOT=1"
)
async def test_update_the_readme_screenshot(demo: Demo, page: Page):
    """Writes docs/demo.png: a real session, list and preferences open (run on demand)."""
    await page.set_viewport_size({"width": 760, "height": 640})
    await open_inbox(page, demo.url("ada"))
    payloads = [
        ("build.failed", {"title": "Nightly build #412 failed: 3 tests red"}),
        ("review.requested", {"title": "Grace asked you to review PR #87"}),
        ("invoice.paid", {"title": "Invoice 1001 was paid"}),
        ("mention", "Linus mentioned you in 'Flaky login test'"),
    ]
    created = [await demo.api.create("ada", data, type_) for type_, data in payloads]
    await expect(page.locator("#list li")).to_have_count(len(created))
    await page.get_by_role("button", name="Mark read: Invoice 1001 was paid").click()
    await expect(page.locator("#unread")).to_have_text("3 unread")
    await expect(page.locator("#badge")).to_have_text("0")
    await page.get_by_role("button", name="Preferences").click()
    await page.get_by_role("checkbox", name="Mute mention").check()
    await expect(page.locator("#prefs-status")).to_have_text("Saved: muted mention")
    await page.screenshot(path=SCREENSHOT, full_page=True)
