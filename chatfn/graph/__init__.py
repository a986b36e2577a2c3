"""Microsoft Graph: the client (tokens from the managed identity, retries, typed errors) and the
shapes of what Graph answers. Knows nothing of HTTP triggers or idempotency."""
