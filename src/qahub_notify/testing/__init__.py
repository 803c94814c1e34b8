"""The testing kit: QaHub Notifications inside other teams' integration tests (DESIGN §10).

```python
with NotificationsStack() as stack:     # mode="auto": containers where Docker runs, else local
    svc = stack.token("billing", scope="notifications:publish")
    inbox = stack.inbox("42")           # connected SSE subscriber of user 42
    stack.client(svc).send(to="42", type="invoice.paid", data={"invoice": 1})
    n = inbox.wait_for(type="invoice.paid", timeout=5)
```

With pytest, the plugin ``qahub_notify.testing.plugin`` (loaded automatically once
``qahub-notify`` is installed) offers the fixtures ``qahub_stack`` and ``qahub_inbox``.
Importing this package starts nothing and loads none of the servers' code.
"""

from qahub_notify.testing._errors import StackError
from qahub_notify.testing._inbox import Inbox
from qahub_notify.testing._stack import Mode, NotificationsStack

__all__ = ["Inbox", "Mode", "NotificationsStack", "StackError"]
