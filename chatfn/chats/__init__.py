"""What a chat request asks (the request models and the normalised spec), its members resolved to
object ids, Graph's body, and the making of the chat: create, find before sending again, reuse."""
