"""Annotated dependency aliases the route handlers declare."""

from __future__ import annotations

from typing import Annotated, TypedDict, cast

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from notifications_api.auth import authenticate
from notifications_api.dispatcher import OutboxDispatcher
from notifications_api.metrics import ApiMetrics
from notifications_api.notifications import Notifications
from notifications_api.preferences import PreferenceStore
from notifications_api.rate_limit import RateLimiter
from qahub_contracts.auth import Principal, TokenVerifier

__all__ = ["CurrentUser", "NotificationsDep", "PreferencesDep", "State", "StateDep"]


class State(TypedDict):
    """Everything the lifespan creates and hands to the requests."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    verifier: TokenVerifier
    notifications: Notifications
    preferences: PreferenceStore
    dispatcher: OutboxDispatcher
    metrics: ApiMetrics
    rate_limiter: RateLimiter


# Dependencies are async on purpose: FastAPI runs plain ``def`` ones in a thread pool.
async def _state(request: Request) -> State:
    return cast("State", request.scope["state"])


async def _principal(request: Request) -> Principal:
    state = await _state(request)
    principal = await authenticate(request, state["verifier"])
    state["rate_limiter"].check(principal)
    return principal


async def _notifications(request: Request) -> Notifications:
    return (await _state(request))["notifications"]


async def _preferences(request: Request) -> PreferenceStore:
    return (await _state(request))["preferences"]


StateDep = Annotated[State, Depends(_state)]
CurrentUser = Annotated[Principal, Depends(_principal)]
NotificationsDep = Annotated[Notifications, Depends(_notifications)]
PreferencesDep = Annotated[PreferenceStore, Depends(_preferences)]
