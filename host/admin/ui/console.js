// The Wharf operator console. Vanilla JavaScript, no dependencies: it reads
// the documented admin API with the token the operator typed (kept in this
// tab's sessionStorage only, sent as a header, never in a URL) and draws its
// charts as SVG. Every value shown comes from the API and is written with
// textContent, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "wharf-admin-token";
  const MAX_LOG_ITEMS = 200;

  // Errors the page met (script errors, rejected promises, CSP violations,
  // console.error): kept for the browser tests, which expect none.
  window.wharfErrors = [];
  const recordError = (what) => window.wharfErrors.push(String(what));
  window.addEventListener("error", (e) => recordError(e.message));
  window.addEventListener("unhandledrejection", (e) => recordError(e.reason));
  document.addEventListener("securitypolicyviolation", (e) =>
    recordError(`CSP: ${e.violatedDirective} ${e.blockedURI}`));
  const consoleError = console.error.bind(console);
  console.error = (...args) => { recordError(args.join(" ")); consoleError(...args); };

  const $ = (id) => document.getElementById(id);
  const el = (tag, text, cls) => {
    const e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  };

  let token = sessionStorage.getItem(TOKEN_KEY);
  let timer = null;
  let logAbort = null;
  let current = null; // the service shown, with its last status

  class Unauthorized extends Error {}

  async function api(method, path, body) {
    const init = { method, headers: { Authorization: `Bearer ${token}` } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const r = await fetch(path, init);
    if (r.status === 401) throw new Unauthorized();
    const type = r.headers.get("content-type") || "";
    const data = type.startsWith("application/json") ? await r.json() : await r.text();
    if (!r.ok) {
      const message = data && data.error ? data.error : `${r.status} ${r.statusText}`;
      throw new Error(message);
    }
    return data;
  }

  // ---- sign-in -----------------------------------------------------------

  function show(view) {
    for (const id of ["sign-in-view", "overview-view", "service-view"]) {
      $(id).hidden = id !== view;
    }
    $("sign-out").hidden = view === "sign-in-view";
  }

  async function signIn(candidate) {
    token = candidate;
    try {
      await api("GET", "/v1/host");
    } catch (e) {
      token = null;
      $("sign-in-error").textContent = e instanceof Unauthorized
        ? "Wrong token: the host refused it."
        : `Cannot reach the host: ${e.message}`;
      $("sign-in-error").hidden = false;
      return;
    }
    sessionStorage.setItem(TOKEN_KEY, candidate);
    $("sign-in-error").hidden = true;
    $("token").value = "";
    route();
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
    stop();
    $("host-status").textContent = "";
    show("sign-in-view");
    $("token").focus();
  }

  function stop() {
    if (timer) clearInterval(timer);
    timer = null;
    if (logAbort) logAbort.abort();
    logAbort = null;
  }

  // Every refresh goes through here: a 401 (token changed on the host)
  // signs out instead of piling up errors.
  function every(ms, fn) {
    const run = async () => {
      try { await fn(); } catch (e) {
        if (e instanceof Unauthorized) signOut();
        else $("host-status").textContent = `Error: ${e.message}`;
      }
    };
    run();
    timer = setInterval(run, ms);
  }

  function route() {
    stop();
    if (!token) { show("sign-in-view"); return; }
    const m = location.hash.match(/^#\/service\/(.+)$/);
    if (m) openService(decodeURIComponent(m[1]));
    else openOverview();
  }

  async function refreshHost() {
    const h = await api("GET", "/v1/host");
    const up = h.uptime_seconds;
    const uptime = up >= 3600 ? `${Math.floor(up / 3600)} h ${Math.floor(up / 60) % 60} min`
      : up >= 60 ? `${Math.floor(up / 60)} min ${up % 60} s` : `${up} s`;
    $("host-status").textContent =
      `${h.ready ? "ready" : "starting"} · up ${uptime} · ${h.services} services · wharf ${h.version}`;
  }

  // ---- overview ----------------------------------------------------------

  function openOverview() {
    show("overview-view");
    every(1000, async () => {
      const [services] = await Promise.all([api("GET", "/v1/services"), refreshHost()]);
      const body = $("services").tBodies[0];
      const rows = services.map((s) => {
        const tr = el("tr");
        tr.dataset.service = s.name;
        const name = el("td");
        const link = el("a", s.name);
        link.href = `#/service/${encodeURIComponent(s.name)}`;
        name.append(link);
        tr.append(name, el("td", s.version), el("td", s.digest.slice(7, 19)),
          el("td", s.canary ? `${s.canary.version} at ${s.canary.weight}%` : "—"),
          el("td", s.state, `state-${s.state}`),
          el("td", s.requests_per_second.toFixed(1), "num"),
          el("td", String(s.live_instances), "num"),
          el("td", String(s.requests_total), "num"));
        return tr;
      });
      body.replaceChildren(...rows);
    });
  }

  // ---- service page ------------------------------------------------------

  function openService(name) {
    show("service-view");
    $("service-title").textContent = name;
    $("logs").replaceChildren();
    current = { name, status: null };
    streamLogs(name);
    every(1000, async () => {
      const [status, series] = await Promise.all([
        api("GET", `/v1/services/${encodeURIComponent(name)}`),
        api("GET", `/v1/services/${encodeURIComponent(name)}/series`).catch(() => null),
        refreshHost(),
      ]);
      if (!current || current.name !== name) return;
      const first = current.status === null;
      current.status = status;
      renderStatus(status, first);
      if (series) renderSeries(series);
    });
  }

  function renderStatus(s, first) {
    const canary = s.canary ? `; canary ${s.canary.version} at ${s.canary.weight}%` : "";
    $("service-summary").textContent =
      `stable ${s.version} (${s.digest.slice(7, 19)})${canary} · ${s.state}` +
      (s.last_event ? ` · ${s.last_event}` : "");
    // The slider follows the host until the operator touches it.
    if (first || !$("weight").dataset.touched) {
      $("weight").value = s.canary ? s.canary.weight : 0;
      $("weight-value").textContent = $("weight").value;
    }
    $("weight").disabled = !s.canary;
    $("apply-weight").disabled = !s.canary;
    $("promote").disabled = !s.canary;
    $("rollback").disabled = !s.canary && s.history.length === 0;
    const items = s.history.map((v) => {
      const li = el("li", `${v.version} (${v.digest.slice(7, 19)}) `);
      const b = el("button", `Activate ${v.version}`);
      b.type = "button";
      b.dataset.version = v.version;
      b.addEventListener("click", () => act(
        `Make ${v.version} the stable version of ${s.name}? It replaces ${s.version} for all requests.`,
        "POST", "activate", { version: v.version }));
      li.append(b);
      return li;
    });
    $("history").replaceChildren(...items);
  }

  function renderSeries(series) {
    const pick = (points, f) => points.map((p) => (p ? f(p) : null));
    const total = series.stable.reduce((n, p) => n + p.requests, 0) +
      series.canary.reduce((n, p) => n + (p ? p.requests : 0), 0);
    $("chart-requests").dataset.total = total;
    chart($("chart-requests"), pick(series.stable, (p) => p.requests),
      pick(series.canary, (p) => p.requests));
    chart($("chart-latency"), pick(series.stable, (p) => p.p99_us / 1000),
      pick(series.canary, (p) => p.p99_us / 1000));
    chart($("chart-errors"), pick(series.stable, (p) => p.errors),
      pick(series.canary, (p) => p.errors));
    chart($("chart-instances"), pick(series.stable, (p) => p.live_instances),
      pick(series.canary, (p) => p.live_instances));
  }

  const SVG = "http://www.w3.org/2000/svg";
  const WINDOW = 900;

  // A line chart of the last WINDOW seconds, newest on the right.
  function chart(svg, stable, canary) {
    const W = 600, H = 160, left = 40, bottom = 16;
    const values = stable.concat(canary).filter((v) => v !== null);
    const max = Math.max(1, ...values);
    const x = (i, n) => left + ((WINDOW - n + i) / (WINDOW - 1)) * (W - left - 4);
    const y = (v) => H - bottom - (v / max) * (H - bottom - 8);
    const nodes = [];
    const line = (x1, y1, x2, y2) => {
      const l = document.createElementNS(SVG, "line");
      for (const [k, v] of Object.entries({ x1, y1, x2, y2 })) l.setAttribute(k, v);
      l.setAttribute("class", "axis");
      return l;
    };
    const text = (tx, ty, s, anchor) => {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", tx);
      t.setAttribute("y", ty);
      t.setAttribute("class", "label");
      if (anchor) t.setAttribute("text-anchor", anchor);
      t.textContent = s;
      return t;
    };
    nodes.push(line(left, H - bottom, W, H - bottom), line(left, 8, left, H - bottom));
    nodes.push(text(left - 4, 14, max.toFixed(max < 10 ? 1 : 0), "end"),
      text(left - 4, H - bottom, "0", "end"),
      text(left, H - 2, "−15 min"), text(W, H - 2, "now", "end"));
    for (const [points, cls] of [[stable, "stable"], [canary, "canary"]]) {
      // One polyline per run of non-null points.
      let run = [];
      const flush = () => {
        if (run.length > 0) {
          const p = document.createElementNS(SVG, "polyline");
          p.setAttribute("class", cls);
          p.setAttribute("points", run.join(" "));
          nodes.push(p);
        }
        run = [];
      };
      points.forEach((v, i) => {
        if (v === null) flush();
        else run.push(`${x(i, points.length).toFixed(1)},${y(v).toFixed(1)}`);
      });
      flush();
    }
    svg.replaceChildren(...nodes);
  }

  // ---- actions -----------------------------------------------------------

  function confirmAction(message) {
    return new Promise((resolve) => {
      const dialog = $("confirm-dialog");
      $("confirm-text").textContent = message;
      dialog.returnValue = "";
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
      dialog.showModal();
      $("confirm-ok").focus();
    });
  }

  async function act(message, method, action, body) {
    if (!current) return;
    const name = current.name;
    if (!(await confirmAction(message))) return;
    try {
      const path = `/v1/services/${encodeURIComponent(name)}/${action}`;
      const s = await api(method, path, body);
      delete $("weight").dataset.touched;
      $("action-result").textContent = `Done: ${name} now serves ${s.version}` +
        (s.canary ? ` with canary ${s.canary.version} at ${s.canary.weight}%.` : " only.");
      if (current && current.name === name) renderStatus(s, true);
    } catch (e) {
      if (e instanceof Unauthorized) { signOut(); return; }
      $("action-result").textContent = `Refused: ${e.message}`;
    }
  }

  // ---- guest log (server-sent events over fetch, so the token stays a
  // header: EventSource cannot send one) -------------------------------

  async function streamLogs(name) {
    const controller = new AbortController();
    logAbort = controller;
    while (!controller.signal.aborted) {
      try {
        const r = await fetch(`/v1/services/${encodeURIComponent(name)}/logs`, {
          headers: { Authorization: `Bearer ${token}` },
          signal: controller.signal,
        });
        if (r.status === 401) { signOut(); return; }
        if (!r.ok) throw new Error(`log stream: ${r.status}`);
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            handleEvent(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (e) {
        if (controller.signal.aborted) return;
      }
      // The stream ended (host restarting): try again shortly.
      await new Promise((r) => setTimeout(r, 2000));
    }
  }

  function handleEvent(block) {
    let type = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event: ")) type = line.slice(7);
      else if (line.startsWith("data: ")) data += line.slice(6);
    }
    const logs = $("logs");
    if (type === "log") {
      const l = JSON.parse(data);
      const time = new Date(l.unix_ms).toLocaleTimeString();
      logs.append(el("li", `${time} ${l.version} ${l.stream}: ${l.line}`, l.stream));
    } else if (type === "lagged") {
      logs.append(el("li", `(${data} lines skipped: the console fell behind)`));
    } else {
      return;
    }
    while (logs.children.length > MAX_LOG_ITEMS) logs.firstElementChild.remove();
    logs.scrollTop = logs.scrollHeight;
  }

  // ---- wiring ------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", (e) => {
      e.preventDefault();
      signIn($("token").value);
    });
    $("sign-out").addEventListener("click", signOut);
    $("weight").addEventListener("input", () => {
      $("weight").dataset.touched = "1";
      $("weight-value").textContent = $("weight").value;
    });
    $("apply-weight").addEventListener("click", () => {
      const s = current && current.status;
      if (!s || !s.canary) return;
      const w = Number($("weight").value);
      act(`Send ${w}% of ${s.name}'s requests to canary ${s.canary.version} and ${100 - w}% to stable ${s.version}?`,
        "PUT", "traffic", { canary_weight: w });
    });
    $("promote").addEventListener("click", () => {
      const s = current && current.status;
      if (!s || !s.canary) return;
      act(`Promote ${s.canary.version} to stable for ${s.name}? All requests go to it; ${s.version} goes to the history.`,
        "POST", "promote");
    });
    $("rollback").addEventListener("click", () => {
      const s = current && current.status;
      if (!s) return;
      const what = s.canary
        ? `Roll back ${s.name}'s canary ${s.canary.version}? All requests go to ${s.version}.`
        : `Roll back ${s.name} from ${s.version} to ${s.history[0].version}?`;
      act(what, "POST", "rollback");
    });
    window.addEventListener("hashchange", route);
    route();
  });
})();
