// {{name}}: an HTTP service in JavaScript.
//
// `wharf up --build .` builds it with componentize-js and serves it;
// `wharf up --watch .` rebuilds it on every save. "./wharf.js" is Wharf's
// helper (messaging, key-value, config), put beside this file at build time;
// HTTP is the standard `fetch` event.

import { Store, config } from "./wharf.js";

addEventListener("fetch", (event) => {
  event.respondWith(handle(event.request));
});

async function handle(request) {
  const url = new URL(request.url);
  const greeting = config("GREETING") ?? "Hello";
  if (url.pathname === "/count") {
    const store = new Store("default");
    const count = Number(store.get("count") ?? "0") + 1;
    store.set("count", String(count));
    return Response.json({ count });
  }
  return new Response(`${greeting} from {{name}} (JavaScript)! You asked for ${url.pathname}\n`, {
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}
