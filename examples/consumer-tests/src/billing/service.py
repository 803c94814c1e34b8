"""Billing's one use case under test: paying an invoice notifies its owner, once."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Invoice:
    number: int
    owner: str
    amount_cents: int


class Billing:
    """Pays invoices; tells QaHub Notifications about each non-zero payment."""

    def __init__(self, notifications_api_url: str, service_token: str) -> None:
        self._http = httpx.Client(
            base_url=notifications_api_url,
            headers={"Authorization": f"Bearer {service_token}"},
            timeout=10,
        )

    def pay(self, invoice: Invoice) -> None:
        """Record the payment; notify the owner unless there was nothing to pay."""
        if invoice.amount_cents == 0:
            return
        response = self._http.post(
            "/api/v1/notifications",
            headers={"Idempotency-Key": f"invoice-{invoice.number}-paid"},
            json={
                "type": "invoice.paid",
                "notifiableType": "user",
                "notifiableId": invoice.owner,
                "data": {"invoice": invoice.number, "amountCents": invoice.amount_cents},
            },
        )
        response.raise_for_status()

    def close(self) -> None:
        self._http.close()
