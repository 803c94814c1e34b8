"""A sample QaHub service: billing, which notifies users when their invoices are paid."""

from billing.service import Billing, Invoice

__all__ = ["Billing", "Invoice"]
