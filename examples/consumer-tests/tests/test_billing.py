"""Billing's notifications, checked against a real QaHub Notifications (the kit's fixtures)."""

import pytest
from billing import Billing, Invoice


@pytest.fixture
def billing(qahub_stack):
    service = Billing(
        qahub_stack.api_url, qahub_stack.token("billing", scope="notifications:publish")
    )
    yield service
    service.close()


def test_paying_an_invoice_notifies_its_owner(billing, qahub_inbox):
    inbox = qahub_inbox("42")
    billing.pay(Invoice(1001, owner="42", amount_cents=2500))
    paid = inbox.wait_for(type="invoice.paid", data={"invoice": 1001})
    assert paid.data == {"invoice": 1001, "amountCents": 2500}
    assert paid.read_at is None


def test_nobody_else_hears_of_it(billing, qahub_inbox):
    owner, neighbour = qahub_inbox("7"), qahub_inbox("8")
    billing.pay(Invoice(1002, owner="7", amount_cents=100))
    owner.wait_for(type="invoice.paid")
    neighbour.assert_no_notification(within=0.5)


def test_a_free_invoice_notifies_nobody(billing, qahub_inbox):
    inbox = qahub_inbox("9")
    billing.pay(Invoice(1003, owner="9", amount_cents=0))
    inbox.assert_no_notification(within=0.5)


def test_paying_twice_notifies_once(billing, qahub_inbox):
    inbox = qahub_inbox("10")
    billing.pay(Invoice(1004, owner="10", amount_cents=300))
    billing.pay(Invoice(1004, owner="10", amount_cents=300))
    inbox.wait_for(type="invoice.paid", data={"invoice": 1004})
    with pytest.raises(AssertionError, match="1 arrived"):
        inbox.wait_for(type="invoice.paid", data={"invoice": 9999}, timeout=0.5)
