"""The HTTP edge: requests checked, answers and problems rendered, the API described. The only part of
the app (with `function_app.py`) that knows `azure.functions`; the work is done by `chatfn.requests`."""
