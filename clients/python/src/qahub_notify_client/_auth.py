"""Bearer tokens: a fixed string, or a callable asked for a fresh one.

A callable is asked before every request and every stream connect, and once
more when the server answers 401 (the request is then sent again with the new
token, once). So a short-lived token is renewed without the caller noticing; a
callable should return a cached token until shortly before it expires.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import Final

import httpx

__all__ = ["AsyncToken", "BearerAuth", "Token", "TokenSource"]

Token = str | Callable[[], str]
"""A bearer token, or a callable returning the current one."""

AsyncToken = str | Callable[[], str] | Callable[[], Awaitable[str]]
"""For the asyncio twins: the callable may also be a coroutine function."""

_HEADER: Final = "Authorization"


class TokenSource:
    """Where the current token comes from: the fixed string, or the callable asked now."""

    def __init__(self, token: AsyncToken) -> None:
        self._token = token

    @property
    def renewable(self) -> bool:
        """Whether a 401 is worth a second try (the token comes from a callable)."""
        return callable(self._token)

    def current(self) -> str:
        """The token to send now (sync callers only)."""
        if isinstance(self._token, str):
            return self._token
        value = self._token()
        if not isinstance(value, str):
            if inspect.iscoroutine(value):
                value.close()
            msg = "a coroutine token callable needs the asyncio client"
            raise TypeError(msg)
        return value

    async def acurrent(self) -> str:
        """The token to send now; a coroutine callable is awaited."""
        if isinstance(self._token, str):
            return self._token
        value = self._token()
        return await value if inspect.isawaitable(value) else value


class BearerAuth(httpx.Auth, TokenSource):
    """Sets ``Authorization: Bearer <token>``; on a 401 asks a callable again and resends once."""

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers[_HEADER] = f"Bearer {self.current()}"
        response = yield request
        if response.status_code == 401 and self.renewable:
            request.headers[_HEADER] = f"Bearer {self.current()}"
            yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers[_HEADER] = f"Bearer {await self.acurrent()}"
        response = yield request
        if response.status_code == 401 and self.renewable:
            request.headers[_HEADER] = f"Bearer {await self.acurrent()}"
            yield request
