"""DESIGN §3: users only ever see and change their own notifications, on every REST path."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.api.conftest import Api

URL = "/api/v1/notifications"


class TestIsolation:
    """Another user's notification is invisible and untouchable."""

    async def test_every_path_refuses_another_users_notification(self, api: Api):
        mine = await api.create("alice", "for alice")
        bob = api.auth("bob")
        path = f"{URL}/{mine['id']}"
        assert (await api.http.get(path, headers=bob)).status_code == 404
        assert (await api.http.patch(path, json={"read": True}, headers=bob)).status_code == 404
        assert (await api.http.delete(path, headers=bob)).status_code == 404
        assert (
            await api.http.post(f"{URL}/read", json={"ids": [mine["id"]]}, headers=bob)
        ).json() == {"updated": 0}
        assert (await api.http.post(f"{URL}/read", headers=bob)).json() == {"updated": 0}
        assert (
            await api.http.post(f"{URL}/delete", json={"ids": [mine["id"]]}, headers=bob)
        ).json() == {"deleted": 0}
        assert (await api.http.get(URL, headers=bob)).json() == {"items": [], "nextCursor": None}
        assert await api.stats("bob") == {"total": 0, "unread": 0, "read": 0, "unseen": 0}
        assert (await api.http.get(f"{URL}/snapshot", headers=bob)).json()["recent"] == []
        # ... and alice's notification is exactly as it was.
        assert (await api.http.get(path, headers=api.auth("alice"))).json() == mine
        assert await api.stats("alice") == {"total": 1, "unread": 1, "read": 0, "unseen": 1}

    async def test_a_cursor_from_another_user_shows_nothing_of_theirs(self, api: Api):
        for i in range(3):
            await api.create("alice", f"a{i}")
        page = (await api.http.get(URL, params={"limit": 1}, headers=api.auth("alice"))).json()
        theirs = await api.http.get(
            URL, params={"cursor": page["nextCursor"]}, headers=api.auth("bob")
        )
        assert theirs.json()["items"] == []

    async def test_random_interleavings_never_leak(self, api: Api):
        """A seeded random mix of users and operations: each listing holds only its owner's."""
        users = ["u1", "u2", "u3"]
        owned: dict[str, set[str]] = {u: set() for u in users}

        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            st.lists(
                st.tuples(
                    st.sampled_from(users),
                    st.sampled_from(users),
                    st.sampled_from(["create", "read", "delete"]),
                ),
                max_size=8,
            )
        )
        def plan(steps):
            plans.append(steps)

        plans: list[list[tuple[str, str, str]]] = []
        plan()
        rng = random.Random(7)
        for steps in plans:
            for actor, target, op in steps:
                if op == "create":
                    owned[target].add((await api.create(target, f"{actor}->{target}"))["id"])
                elif owned[target]:
                    victim = rng.choice(sorted(owned[target]))
                    path, headers = f"{URL}/{victim}", api.auth(actor)
                    response = await (
                        api.http.patch(path, json={"read": True}, headers=headers)
                        if op == "read"
                        else api.http.delete(path, headers=headers)
                    )
                    assert response.status_code == (
                        404 if actor != target else 200 if op == "read" else 204
                    )
                    if op == "delete" and actor == target:
                        owned[target].discard(victim)
        for user in users:
            listing = (
                await api.http.get(URL, params={"limit": 100}, headers=api.auth(user))
            ).json()["items"]
            assert {n["id"] for n in listing} == owned[user]
            assert all(n["notifiableId"] == user for n in listing)
