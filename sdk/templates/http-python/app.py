"""{{name}}: an HTTP service in Python.

`wharf up --build .` builds it with componentize-py and serves it;
`wharf up --watch .` rebuilds it on every save. The `wharf` module is
Wharf's helper (HTTP, messaging, key-value, config); the raw bindings are
in `wit_world`.
"""

import wharf


class IncomingHandler(wharf.HttpHandler):
    """The service's entry point: one call per HTTP request."""

    def on_request(self, request: wharf.Request) -> wharf.Response:
        greeting = wharf.config("GREETING") or "Hello"
        if request.path == "/count":
            store = wharf.Store("default")
            count = int(store.get("count") or "0") + 1
            store.set("count", str(count))
            return wharf.Response.json({"count": count})
        return wharf.Response.text(f"{greeting} from {{name}} (Python)! You asked for {request.path}\n")
