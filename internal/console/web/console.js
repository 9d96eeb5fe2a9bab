// The operator console: signs in with an admin token (kept in this tab's
// sessionStorage, never written into the page), then shows one view at a
// time from the node's admin APIs, polling every few seconds. Everything the
// node answers is put into the page as text, never as HTML.
"use strict";

const KEY = "dds-console-token";
const POLL_MS = 3000;
const VIEWS = {
  network: { title: "Network", load: network },
  storage: { title: "Storage", load: storage },
  money: { title: "Money", load: money },
  files: { title: "Files", load: files },
  storlets: { title: "Storlets", load: storlets },
  compute: { title: "Compute jobs", load: compute },
  deals: { title: "Deals", load: deals },
};
const COMPUTE_STATUS = {
  1: "Warming up", 7: "Stopped", 8: "Deleted", 10: "Started", 20: "Configuring volumes",
  30: "Provisioned", 31: "Data provisioning failed", 32: "Algorithm provisioning failed",
  40: "Running", 41: "Algorithm failed", 42: "Output limit exceeded", 43: "Time limit exceeded",
  44: "Interrupted", 50: "Filtering results", 60: "Publishing results", 61: "Publishing failed",
  70: "Finished",
};

const $ = (id) => document.getElementById(id);
let timer = null;
let seq = 0; // drops answers to a view left meanwhile

// el builds an element: attrs are attributes, children strings or nodes.
function el(tag, attrs, ...children) {
  const ns = ["svg", "rect", "line", "text", "g", "title"].includes(tag) ? "http://www.w3.org/2000/svg" : null;
  const e = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function table(head, rows, numeric) {
  numeric = numeric || [];
  return el("table", {},
    el("thead", {}, el("tr", {}, head.map((h, i) => el("th", numeric.includes(i) ? { class: "num" } : {}, h)))),
    el("tbody", {}, rows.length ? rows.map((r) => tr(r, numeric))
      : el("tr", {}, el("td", { colspan: head.length, class: "status" }, "none"))));
}

// tr is a table row of cells, the numeric columns' aligned.
function tr(cells, numeric) {
  return el("tr", {}, cells.map((c, i) => el("td", numeric.includes(i) ? { class: "num" } : {}, c)));
}

function bytes(n) {
  if (n < 0) return "—";
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + u[i];
}

function when(t) {
  if (!t || t.startsWith("0001-")) return "never";
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

// tokens writes an amount of tokens without exponent, to the base unit.
const tokens = (v) => (v ? v.toFixed(9).replace(/\.?0+$/, "") : "0");

const short = (id) => (id && id.length > 14 ? id.slice(0, 8) + "…" + id.slice(-4) : id);

class Refused extends Error {}

// api fetches a node path with the token; a refusal signs out.
async function api(path, as) {
  const token = sessionStorage.getItem(KEY);
  const resp = await fetch(path, { headers: { Authorization: "Bearer " + token, Accept: "application/json" }, cache: "no-store" });
  if (resp.status === 401 || resp.status === 403) {
    throw new Refused(await detail(resp));
  }
  if (!resp.ok) throw new Error(path + ": " + (await detail(resp)));
  return as === "text" ? resp.text() : resp.json();
}

async function detail(resp) {
  let d = resp.statusText;
  try {
    const body = await resp.json();
    const e = (body.errors && body.errors[0]) || body;
    d = e.detail || e.title || e.error || e.message || d;
  } catch (_) { /* not JSON */ }
  return d + " (HTTP " + resp.status + ")";
}

// metric reads one gauge family of the Prometheus text format: label -> value.
function metric(text, name) {
  const out = {};
  const re = new RegExp("^" + name + "\\{[a-z_]+=\"([^\"]*)\"\\} (\\S+)$", "gm");
  for (const m of text.matchAll(re)) out[m[1]] = Number(m[2]);
  return out;
}

function counts(map, label, names) {
  const keys = Object.keys(map).sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  return table([label, "Count"], keys.map((k) => [names ? (names[k] || k) + " (" + k + ")" : k, map[k]]), [1]);
}

function card(label, value, extra) {
  return el("div", { class: "card" }, label, el("b", {}, value), extra);
}

async function network() {
  const [members, storage] = await Promise.all([api("/network"), api("/console/api/storage")]);
  const s = storage.data.attributes, copies = s.copies || {};
  const dds = s.faces.find((f) => f.face === "dds") || { items: 0 };
  const meta = members.meta || {};
  const rows = (members.data || []).map((m) => {
    const a = m.attributes;
    return [el("span", { class: "id", title: a.id }, a.id, a.self ? " (this node)" : ""), a.url,
      el("span", { class: "state-" + a.state }, a.state), when(a.since), when(a.last_contact), copies[a.id] || 0];
  });
  return [
    el("div", { class: "cards" }, card("Members", rows.length), card("Copies per file", meta.replicas),
      card("Confirmations per price", meta.confirmations), card("Files held here", dds.items)),
    table(["Node", "URL", "State", "Since", "Last contact", "Files held"], rows, [5]),
  ];
}

async function storage() {
  const s = (await api("/console/api/storage")).data.attributes;
  return [
    el("div", { class: "cards" },
      card("Disk used", bytes(s.disk_used), el("meter", { min: 0, max: s.disk_total || 1, value: s.disk_used, title: "used of " + bytes(s.disk_total) })),
      card("Disk free", bytes(s.disk_free)), card("Disk size", bytes(s.disk_total)),
      card("Content stored", bytes(s.blob_bytes), s.blobs + " objects")),
    table(["Face", "Items", "Bytes"], s.faces.map((f) => [f.face, f.items, bytes(f.bytes)]), [1, 2]),
  ];
}

const SERIES = ["quoted", "paid", "accrued"];

// chart draws grouped bars, one group per day, as inline SVG.
function chart(days) {
  const W = 900, H = 260, L = 84, B = 30, T = 10;
  const max = Math.max(1e-9, ...days.flatMap((d) => SERIES.map((k) => Number(d[k]))));
  const gw = (W - L - 10) / days.length, bw = Math.max(2, (gw - 6) / SERIES.length);
  const y = (v) => T + (H - T - B) * (1 - v / max);
  const svg = el("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "earnings per day" });
  for (const f of [0, 0.5, 1]) {
    svg.append(el("line", { class: "axis", x1: L, x2: W - 10, y1: y(max * f), y2: y(max * f) }),
      el("text", { x: L - 6, y: y(max * f) + 4, "text-anchor": "end" }, tokens(max * f)));
  }
  days.forEach((d, i) => {
    const x0 = L + i * gw + 3;
    SERIES.forEach((k, j) => {
      const v = Number(d[k]);
      svg.append(el("rect", { class: k, x: x0 + j * bw, y: y(v), width: bw - 1, height: Math.max(0, y(0) - y(v)) },
        el("title", {}, `${d.day} ${k}: ${d[k]}`)));
    });
    if (days.length <= 16 || i % Math.ceil(days.length / 16) === 0) {
      svg.append(el("text", { x: x0 + gw / 2 - 3, y: H - 10, "text-anchor": "middle" }, d.day.slice(5)));
    }
  });
  return svg;
}

async function money() {
  const days = (await api("/console/api/money?days=14")).data.map((d) => d.attributes);
  const sum = (k) => days.reduce((s, d) => s + Number(d[k]), 0);
  return [
    el("div", { class: "cards" }, SERIES.map((k) => card(k[0].toUpperCase() + k.slice(1) + " (14 days)", tokens(sum(k))))),
    el("p", { class: "legend" }, SERIES.map((k) => el("span", { class: k }, "■ " + k))),
    chart(days),
    table(["Day", "Quoted", "Paid", "Accrued", "Stored"], days.slice().reverse().map((d) => [d.day, d.quoted, d.paid, d.accrued, bytes(d.stored)]), [1, 2, 3, 4]),
  ];
}

// files shows the files held here a page at a time: "More files" appends
// the next page.
async function files() {
  const row = (f) => {
    const a = f.attributes;
    return [el("span", { class: "id" }, f.id), a.name, el("span", { class: "id", title: a.owner }, short(a.owner)), bytes(a.size),
      when(a.expires_at), a.holders.map((h) => el("span", { class: "holder" },
        el("span", { class: "id", title: h.node }, short(h.node)), " ", el("span", { class: "state-" + h.state }, h.state)))];
  };
  const page = await api("/console/api/files?limit=100");
  const numeric = [3];
  const list = table(["File", "Name", "Owner", "Size", "Expires", "Copies"], page.data.map(row), numeric);
  const more = el("button", { type: "button" }, "More files");
  let next = page.links && page.links.next;
  more.hidden = !next;
  more.addEventListener("click", async () => {
    const p = await api(next);
    const body = list.querySelector("tbody");
    for (const f of p.data) body.append(tr(row(f), numeric));
    next = p.links && p.links.next;
    more.hidden = !next;
  });
  return [list, more];
}

async function storlets() {
  const [list, m] = await Promise.all([api("/storlets"), api("/metrics", "text")]);
  const rows = (Array.isArray(list) ? list : []).map((s) => [s.id, s.name, s.language, s.deployed || "—", s.created_at]);
  return [
    el("h3", {}, "Runs since start"), counts(metric(m, "dds_storlet_runs"), "Outcome"),
    el("h3", {}, "Storlets"), table(["ID", "Name", "Language", "Deployed", "Created"], rows),
  ];
}

async function compute() {
  const [m, list] = await Promise.all([api("/metrics", "text"), api("/console/api/jobs?limit=50")]);
  const rows = list.data.map((j) => {
    const a = j.attributes;
    return [el("span", { class: "id" }, j.id), el("span", { class: "status-" + a.status, title: a.error || "" }, a.status_text),
      el("span", { class: "id", title: a.algorithm }, short(a.algorithm)), el("span", { class: "id", title: a.dataset }, short(a.dataset)),
      el("span", { class: "id", title: a.consumer }, short(a.consumer)), a.environment, when(a.created_at), a.finished_at ? when(a.finished_at) : "—"];
  });
  return [
    el("h3", {}, "Jobs by status"), counts(metric(m, "dds_compute_jobs"), "Status", COMPUTE_STATUS),
    el("h3", {}, "Newest jobs"), table(["Job", "Status", "Algorithm", "Dataset", "Consumer", "Environment", "Started", "Finished"], rows),
  ];
}

async function deals() {
  const [m, list] = await Promise.all([api("/metrics", "text"), api("/console/api/deals?limit=50")]);
  const rows = list.data.map((d) => {
    const a = d.attributes;
    return [el("span", { class: "id" }, d.id), el("span", { class: "state-" + a.state.toLowerCase() }, a.state), a.type, a.sum + " BTC",
      el("span", { class: "id", title: a.seller }, short(a.seller)), el("span", { class: "id", title: a.customer }, short(a.customer)),
      a.file ? el("span", { class: "id", title: a.file }, short(a.file)) : "—", when(a.created_at)];
  });
  return [
    el("h3", {}, "Deals by state"), counts(metric(m, "dds_deals"), "State"),
    el("h3", {}, "Newest deals"), table(["Deal", "State", "Type", "Amount", "Seller", "Customer", "File", "Made"], rows, [3]),
  ];
}

function current() {
  const name = location.hash.slice(1);
  return VIEWS[name] ? name : "network";
}

async function refresh() {
  const name = current(), mine = ++seq;
  const view = $("view");
  try {
    const body = await VIEWS[name].load();
    if (mine !== seq) return;
    $("view-body").replaceChildren(...body);
    view.dataset.view = name;
    view.dataset.loaded = String(mine);
    $("view-status").textContent = "Updated " + new Date().toLocaleTimeString() + "; refreshes every " + POLL_MS / 1000 + " s.";
  } catch (e) {
    if (mine !== seq) return;
    if (e instanceof Refused) {
      signOut("The node refused the token: " + e.message);
      return;
    }
    $("view-status").textContent = "Could not update: " + e.message;
  }
}

function show() {
  const name = current();
  $("view-title").textContent = VIEWS[name].title;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.getAttribute("href") === "#" + name);
  const view = $("view");
  // Another view is cleared at once; the one shown (a click on its own link,
  // whose hashchange comes later) stays until its next load replaces it.
  if (view.dataset.view !== name) {
    delete view.dataset.loaded;
    view.dataset.view = "";
    $("view-body").replaceChildren();
  }
  refresh();
}

function signedIn() {
  $("signin").hidden = true;
  $("nav").hidden = false;
  $("view").hidden = false;
  show();
  clearInterval(timer);
  timer = setInterval(refresh, POLL_MS);
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  seq++;
  $("nav").hidden = true;
  $("view").hidden = true;
  $("view-body").replaceChildren();
  $("signin").hidden = false;
  const err = $("signin-error");
  err.textContent = message || "";
  err.hidden = !message;
}

async function signIn(ev) {
  ev.preventDefault();
  const input = $("token");
  const token = input.value.trim();
  input.value = ""; // never kept in the page
  $("signin-error").hidden = true;
  sessionStorage.setItem(KEY, token);
  try {
    await api("/console/api/storage");
    $("signin-error").hidden = true;
    signedIn();
  } catch (e) {
    signOut(e instanceof Refused ? "The node refused this token: " + e.message : "Could not reach the node: " + e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin").addEventListener("submit", signIn);
  $("signout").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", () => { if (!$("view").hidden) show(); });
  if (sessionStorage.getItem(KEY)) signedIn(); else signOut("");
});
