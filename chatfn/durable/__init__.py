"""Durable Functions: the orchestrations and their activities, and the daily purge. Orchestrators are
deterministic: their time comes from the context, and all I/O happens in activities."""
