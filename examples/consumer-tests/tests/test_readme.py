from billing import Billing, Invoice  # the service under test


def test_paying_an_invoice_notifies_its_owner(qahub_stack, qahub_inbox):
    inbox = qahub_inbox("42")
    token = qahub_stack.token("billing", scope="notifications:publish")
    with Billing(qahub_stack.api_url, token) as billing:
        billing.pay(Invoice(2001, owner="42", amount_cents=2500))
    assert inbox.wait_for(type="invoice.paid").data["invoice"] == 2001
