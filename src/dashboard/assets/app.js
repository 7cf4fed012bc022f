// The live view's page: renders the overview the server sends over
// server-sent events, and fetches the visible page of instances again at
// each of them. No framework: every value goes in with textContent.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const list = { q: "", page: 0, perPage: 50, matched: 0 };
let overview = null;
// The latest row of each move, from samples and events alike.
const latestMoves = {};
let listing = false;

const $ = (id) => document.getElementById(id);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

async function api(path, method) {
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const res = await fetch(path, { method: method || "GET", headers });
  const body = await res.json().catch(() => ({ error: res.statusText, kind: "http" }));
  if (!res.ok) throw Object.assign(new Error(body.error || res.statusText), body);
  return body;
}

function say(text, isError) {
  const m = $("message");
  m.textContent = text;
  m.className = isError ? "error" : "";
  m.hidden = false;
}

async function act(path, what) {
  // A list that started the action keeps focus otherwise, and the table
  // is not redrawn under a focused list.
  if (document.activeElement) document.activeElement.blur();
  say(what + "…");
  try {
    const done = await api(path, "POST");
    say(done.message);
  } catch (e) {
    say(what + " failed: " + e.message + " [" + e.kind + "]", true);
  }
  refresh();
}

const q = (s) => encodeURIComponent(s);

// ---- overview -------------------------------------------------------------

function newest(m) {
  const known = latestMoves[m.name];
  if (!known || known.seq <= m.seq) latestMoves[m.name] = m;
  return latestMoves[m.name];
}

function renderOverview(o) {
  o.moves = o.moves.map(newest);
  overview = o;
  $("node").textContent = "node " + o.node;
  const t = o.totals;
  const cards = [
    ["instances", t.instances], ["queued", t.queued], ["calls", t.calls], ["casts", t.casts],
    ["crashes", t.crashes], ["restarts", t.restarts], ["transfers", t.transfers],
    ["moves", t.moves], ["bytes moved", t.bytes_moved],
  ];
  $("totals").replaceChildren(...cards.map(([k, v]) =>
    el("div", { class: "card", id: "total-" + k.replace(" ", "-") }, el("b", {}, v), el("span", {}, k))));

  const peers = o.peers.length ? o.peers.map((p) => el("tr", { "data-peer": p.name },
      el("td", {}, p.name),
      el("td", { class: "num" }, p.rtt_ms == null ? "no answer" : p.rtt_ms.toFixed(2) + " ms")))
    : [el("tr", {}, el("td", { colspan: 2, class: "empty" }, o.cluster ? "no peer connected" : "no cluster node"))];
  $("peers").tBodies[0].replaceChildren(...peers);

  $("supervisors").tBodies[0].replaceChildren(...o.supervisors.map((s) =>
    el("tr", { "data-supervisor": s.name }, el("td", {}, s.name), el("td", { class: "num" }, s.children),
      el("td", { class: "num" }, s.restarts), el("td", { class: "num" }, s.restarts_per_min.toFixed(1)))));

  renderMoves(o);
  renderChart(o.series);
}

function renderMoves(o) {
  const rows = o.moves.map((m) => el("div", {
      class: "move" + (m.phase === "Aborted" ? " aborted" : ""), "data-name": m.name, "data-phase": m.phase },
    el("div", {}, m.name + " → " + m.to_node + " · " + m.phase + " · " + m.rows_done + "/" + m.rows_total +
      " rows · " + m.bytes_done + " bytes"),
    el("div", { class: "bar" }, el("div", { style: "width:" + (m.fraction * 100).toFixed(1) + "%" }))));
  if (o.drain) {
    const d = o.drain;
    const f = d.total ? (d.moved + d.failed) / d.total : 1;
    rows.unshift(el("div", { class: "move", id: "drain" },
      el("div", {}, "drain: " + d.moved + " moved, " + d.failed + " failed of " + d.total + (d.done ? " · done" : "")),
      el("div", { class: "bar" }, el("div", { style: "width:" + (f * 100).toFixed(1) + "%" }))));
  }
  $("moves").replaceChildren(...(rows.length ? rows : [el("p", { class: "empty" }, "none in progress")]));
  const box = $("drain-box");
  if (o.cluster && o.actions && !box.firstChild) {
    box.append(el("button", { type: "button", id: "drain-button",
      onclick: () => act("/api/drain", "drain") }, "drain this node"));
  }
}

function renderChart(series) {
  const svg = $("chart");
  const w = 600, h = 160, pad = 14;
  const lines = ["messages", "crashes", "moves"];
  const max = Math.max(1, ...lines.flatMap((k) => series[k]));
  const n = Math.max(2, ...lines.map((k) => series[k].length));
  const ns = "http://www.w3.org/2000/svg";
  const parts = lines.map((k) => {
    const pts = series[k].map((v, i) => {
      const x = ((i + n - series[k].length) / (n - 1)) * w;
      const y = h - pad - (v / max) * (h - 2 * pad);
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("class", k);
    line.setAttribute("points", pts.join(" "));
    return line;
  });
  const label = document.createElementNS(ns, "text");
  label.setAttribute("x", 4);
  label.setAttribute("y", 11);
  const secs = Math.round((n * series.interval_ms) / 1000);
  label.textContent = "max " + max.toFixed(1) + "/s · last " + secs + " s";
  svg.replaceChildren(...parts, label);
}

// ---- instances ------------------------------------------------------------

function crashText(c) {
  if (!c) return "";
  return new Date(c.at_ms).toLocaleTimeString() + " " + c.reason;
}

function actions(r) {
  if (!overview || !overview.actions) return el("td", { class: "act" }, "");
  const cell = el("td", { class: "act" },
    el("button", { type: "button", class: "kill", title: "kill its worker",
      onclick: () => act("/api/instances/" + q(r.name) + "/kill", "kill " + r.name) }, "kill"));
  const others = overview.supervisors.map((s) => s.name).filter((s) => s !== r.supervisor);
  if (others.length) {
    cell.append(el("select", { class: "transfer", title: "transfer to another supervisor",
      onchange: (e) => e.target.value && act("/api/instances/" + q(r.name) + "/transfer?to=" + q(e.target.value),
        "transfer " + r.name) },
      el("option", { value: "" }, "transfer to…"), ...others.map((s) => el("option", { value: s }, s))));
  }
  if (overview.cluster && overview.peers.length) {
    cell.append(el("select", { class: "move-to", title: "move to another node",
      onchange: (e) => e.target.value && act("/api/instances/" + q(r.name) + "/move?node=" + q(e.target.value),
        "move " + r.name) },
      el("option", { value: "" }, "move to…"), ...overview.peers.map((p) => el("option", { value: p.name }, p.name))));
  }
  return cell;
}

// What a row's actions depend on: they are rebuilt only when it changes.
function actionsKey(r) {
  if (!overview || !overview.actions) return "";
  const peers = overview.cluster ? overview.peers.map((p) => p.name) : [];
  return JSON.stringify([r.supervisor, overview.supervisors.map((s) => s.name), peers]);
}

// The row's cells as text, in column order (the actions come after them).
function cellTexts(r) {
  return [null, r.kind, r.supervisor || "", r.node, String(r.restarts), crashText(r.last_crash),
    String(r.queue_len), r.tables.map((t) => t.name + " (" + t.rows + ")").join(", "),
    r.dict_keys.join(", "), String(r.epoch)];
}

function newRow(r) {
  const classes = [null, "", "", "", "num restarts", "wrap crash", "num queue", "wrap", "wrap", "num"];
  const tr = el("tr", { "data-name": r.name },
    el("td", {}, el("a", { href: "#/i/" + q(r.name) }, r.name)),
    ...classes.slice(1).map((c) => el("td", c ? { class: c } : {})));
  tr.append(el("td", { class: "act" }));
  return tr;
}

function renderInstances(page) {
  list.matched = page.matched;
  const pages = Math.max(1, Math.ceil(page.matched / page.per_page));
  $("count").textContent = page.matched + " of " + page.total;
  $("pageinfo").textContent = "page " + (page.page + 1) + " of " + pages;
  const body = $("instances").tBodies[0];
  if (body.contains(document.activeElement) && document.activeElement.tagName === "SELECT") return;
  // Rows are updated in place, never replaced: the page redraws at every
  // sample, and a click whose press and release straddle a replaced button
  // would be no click at all.
  const old = new Map([...body.rows].map((tr) => [tr.dataset.name, tr]));
  page.items.forEach((r, i) => {
    let tr = old.get(r.name);
    old.delete(r.name);
    if (!tr) tr = newRow(r);
    cellTexts(r).forEach((text, c) => {
      if (text !== null && tr.cells[c].textContent !== text) tr.cells[c].textContent = text;
    });
    const key = actionsKey(r);
    if (tr.dataset.actions !== key) {
      tr.dataset.actions = key;
      tr.cells[10].replaceWith(actions(r));
    }
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null);
  });
  for (const tr of old.values()) tr.remove();
}

async function refreshList() {
  if (listing) return;
  listing = true;
  try {
    const page = await api("/api/instances?q=" + q(list.q) + "&page=" + list.page + "&per_page=" + list.perPage);
    renderInstances(page);
  } catch (e) {
    say("instances: " + e.message, true);
  } finally {
    listing = false;
  }
}

// ---- one instance ---------------------------------------------------------

async function refreshDetail(name) {
  try {
    const d = await api("/api/instances/" + q(name));
    $("detail-name").textContent = d.name;
    const fields = [
      ["kind", d.kind], ["id", d.id], ["supervisor", d.supervisor || ""], ["node", d.node],
      ["restarts", d.restarts], ["last crash", crashText(d.last_crash)], ["queue", d.queue_len],
      ["tables", d.tables.map((t) => t.name + " (" + t.rows + ")").join(", ")],
      ["dictionary", d.dict_keys.join(", ")], ["epoch", d.epoch],
    ];
    $("detail-fields").replaceChildren(...fields.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
    $("detail-state").textContent = d.state == null
      ? "(not shown: its kind did not opt in with DashboardBuilder::show_state)" : d.state;
  } catch (e) {
    $("detail-state").textContent = e.message;
  }
}

function route() {
  const m = location.hash.match(/^#\/i\/(.+)$/);
  $("main").hidden = !!m;
  $("detail").hidden = !m;
  return m ? decodeURIComponent(m[1]) : null;
}

function refresh() {
  const name = route();
  if (name) refreshDetail(name); else refreshList();
}

// ---- wiring ---------------------------------------------------------------

let typing;
$("search").addEventListener("input", (e) => {
  clearTimeout(typing);
  typing = setTimeout(() => { list.q = e.target.value; list.page = 0; refreshList(); }, 200);
});
$("prev").addEventListener("click", () => { if (list.page > 0) { list.page--; refreshList(); } });
$("next").addEventListener("click", () => {
  if ((list.page + 1) * list.perPage < list.matched) { list.page++; refreshList(); }
});
$("back").addEventListener("click", (e) => { e.preventDefault(); location.hash = ""; });
window.addEventListener("hashchange", refresh);

function connect() {
  const events = new EventSource("/events" + (token ? "?token=" + q(token) : ""));
  events.addEventListener("overview", (e) => {
    $("live").textContent = "live";
    $("live").className = "live on";
    renderOverview(JSON.parse(e.data));
    refresh();
  });
  // A move's progress, between two samples.
  events.addEventListener("move", (e) => {
    if (!overview) return;
    const m = newest(JSON.parse(e.data));
    overview.moves = overview.moves.filter((x) => x.name !== m.name).concat([m]);
    overview.moves.sort((a, b) => (a.name < b.name ? -1 : 1));
    renderMoves(overview);
  });
  events.onerror = () => {
    $("live").textContent = "reconnecting…";
    $("live").className = "live";
  };
}

connect();
