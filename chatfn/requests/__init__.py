"""The request driver: a checked request becomes a chat, at most once per idempotency key. It claims
the key, makes the chat on the direct path or hands it to the orchestration, and settles the record.
No HTTP types here: the edge (`chatfn.api`) renders what it returns."""
