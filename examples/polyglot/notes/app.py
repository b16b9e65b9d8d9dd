"""The polyglot example's `notes` service: a JSON API over key-value.

- `POST /notes` with `{"text": "..."}` stores the note under `note:<id>`
  and publishes `notes.created` (`{"id", "text"}`), which the Rust
  `indexer` handles; answers `201` with the note.
- `GET /notes` lists the notes, `GET /notes/<id>` returns one (or `404`).
"""

import json
import uuid

import wharf

STORE = "notes"


class IncomingHandler(wharf.HttpHandler):
    def on_request(self, request: wharf.Request) -> wharf.Response:
        store = wharf.Store(STORE)
        if request.path == "/notes" and request.method == "POST":
            return create(store, request)
        if request.path == "/notes" and request.method == "GET":
            notes = [
                json.loads(store.get(key) or "null")
                for key in sorted(store.keys())
                if key.startswith("note:")
            ]
            return wharf.Response.json(notes)
        if request.path.startswith("/notes/") and request.method == "GET":
            note = store.get("note:" + request.path[len("/notes/"):])
            if note is None:
                return wharf.Response.json({"error": "no such note"}, 404)
            return wharf.Response(200, note, {"content-type": "application/json"})
        return wharf.Response.json({"error": "not found"}, 404)


def create(store: wharf.Store, request: wharf.Request) -> wharf.Response:
    try:
        text = request.json()["text"]
    except (ValueError, KeyError, TypeError):
        return wharf.Response.json({"error": 'expected {"text": "..."}'}, 400)
    if not isinstance(text, str) or not text.strip():
        return wharf.Response.json({"error": "text must be a non-empty string"}, 400)
    note = {"id": uuid.uuid4().hex[:12], "text": text}
    store.set("note:" + note["id"], json.dumps(note))
    wharf.publish("notes.created", json.dumps(note))
    return wharf.Response.json(note, 201)
