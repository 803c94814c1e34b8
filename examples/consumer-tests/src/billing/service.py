"""Billing's one use case under test: paying an invoice notifies its owner, once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from qahub_notify_client import NotificationsClient


@dataclass(frozen=True)
class Invoice:
    number: int
    owner: str
    amount_cents: int


class Billing:
    """Pays invoices; tells QaHub Notifications about each non-zero payment."""

    def __init__(self, notifications_api_url: str, service_token: str) -> None:
        self._notifications = NotificationsClient(notifications_api_url, service_token)

    def pay(self, invoice: Invoice) -> None:
        """Record the payment; notify the owner unless there was nothing to pay.

        The idempotency key makes a retried payment notify once.
        """
        if invoice.amount_cents == 0:
            return
        self._notifications.send(
            to=invoice.owner,
            type="invoice.paid",
            data={"invoice": invoice.number, "amountCents": invoice.amount_cents},
            idempotency_key=f"invoice-{invoice.number}-paid",
        )

    def close(self) -> None:
        self._notifications.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
