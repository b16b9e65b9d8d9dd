// The polyglot example's `stats` service: `GET /stats` answers with the
// counts the Rust `indexer` keeps in key-value (`stats:notes`,
// `stats:words`) and the id of the last note it indexed (`stats:last`).

import { Store, config } from "./wharf.js";

addEventListener("fetch", (event) => {
  event.respondWith(handle(event.request));
});

function handle(request) {
  if (request.method !== "GET") {
    return Response.json({ error: "use GET" }, { status: 405 });
  }
  const store = new Store("notes");
  return Response.json({
    title: config("TITLE") ?? "notes",
    notes: Number(store.get("stats:notes") ?? "0"),
    words: Number(store.get("stats:words") ?? "0"),
    last: store.get("stats:last") ?? null,
  });
}
