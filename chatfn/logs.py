"""What the app lets the HTTP libraries log: warnings only.

At INFO, httpx logs every request line with its query (`GET .../users?$filter=mail in ('sam@...')`),
and azure-identity and azure-core's HTTP logging policy log token requests and headers. The Functions
worker forwards INFO to Application Insights, so those lines would carry members' emails. chatfn's own
loggers log paths, statuses and Graph's request ids, never a query, a body, a token or an address.
"""

from __future__ import annotations

import logging

QUIETED_LOGGERS = (
    "httpx",
    "httpcore",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "msal",  # azure-identity's token cache: at DEBUG it logs every token event
)


def quiet_http_loggers() -> None:
    """Raise the HTTP libraries' loggers to WARNING, whatever level the host sets on the root."""
    for name in QUIETED_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
