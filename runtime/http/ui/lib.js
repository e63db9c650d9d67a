// What every page of the console shares: the signed-in caller, the API client, DOM helpers,
// number and time formats, and a Prometheus text reader.
"use strict";

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Who is signed in: the key (kept in the tab's session storage) and whether it is the admin's. */
export const session = {
  key: sessionStorage.getItem("geyser-key"),
  isAdmin: false,
  /** The tenant an admin looks at (overview's selector); empty for a tenant. */
  tenant: "",
};

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/**
 * Calls the management API with the session's key. `options.body` (an object) is sent as
 * JSON; `options.raw` (an ArrayBuffer) as it is. Answers the parsed JSON body (or the text,
 * with `options.text`; `null` for 204).
 */
export async function api(path, options = {}) {
  const headers = { Authorization: "Bearer " + session.key };
  let body;
  if (options.raw !== undefined) {
    body = options.raw;
    headers["Content-Type"] = "application/wasm";
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["Content-Type"] = "application/json";
  }
  const reply = await fetch(path, { method: options.method || "GET", headers, body });
  if (options.text && reply.ok) return reply.text();
  if (reply.status === 204) return null;
  const parsed = await reply.json().catch(() => ({}));
  if (!reply.ok) {
    throw new ApiError((parsed.error && parsed.error.message) || reply.statusText, reply.status);
  }
  return parsed;
}

/** The management API's path of function `name`. */
export const fnPath = (name) => "/v1/functions/" + encodeURIComponent(name);

/** `?tenant=NAME` for the admin (who must name the tenant), `sep` + that, or "". */
export function tenantQuery(sep = "?") {
  return session.isAdmin && session.tenant ? sep + "tenant=" + encodeURIComponent(session.tenant) : "";
}

/** A new element: `props` are properties (`dataset` and `attrs` are objects), then children. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "attrs") for (const [a, av] of Object.entries(v)) node.setAttribute(a, av);
    else if (k === "on") for (const [ev, f] of Object.entries(v)) node.addEventListener(ev, f);
    else node[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** Appends a cell with `text`; `cls` names it, `value` (the API's number) goes to data-value. */
export function cell(tr, text, cls, value) {
  const td = document.createElement("td");
  if (text instanceof Node) td.append(text);
  else td.textContent = text;
  if (cls) td.className = cls;
  if (value !== undefined && value !== null) td.dataset.value = String(value);
  tr.appendChild(td);
  return td;
}

/** Replaces the rows of `table`'s body; shows `empty` (an element) when there are none. */
export function fillRows(table, rows, empty) {
  const body = $("tbody", table);
  body.replaceChildren(...rows);
  if (empty) {
    // The "none" line replaces the table instead of sitting under its bare header.
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
  }
}

export const usd = (n) => n.toFixed(6);
export const ms = (n) => (n === null || n === undefined ? "–" : n.toFixed(3));
/** A local date and time for epoch milliseconds (0: never). */
export const when = (t) => (t === null || t === undefined || t === 0 ? "–" : new Date(t).toLocaleString());

/** A duration in milliseconds as the largest whole unit that fits: "6 h", "90 s", "250 ms". */
export function duration(t) {
  for (const [unit, size] of [["d", 86400000], ["h", 3600000], ["min", 60000], ["s", 1000]]) {
    if (t >= size && t % size === 0) return `${t / size} ${unit}`;
  }
  return `${t} ms`;
}

/** A message in the page's live status line. */
export function notice(text, failed = false) {
  const p = $("#notice");
  p.textContent = text;
  p.classList.toggle("failed", failed);
}

/** Runs `action`, putting its error (if any) in `out` (an element) instead of throwing. */
export async function guarded(out, action) {
  out.classList.remove("failed");
  try {
    return await action();
  } catch (err) {
    out.textContent = "Failed: " + err.message;
    out.classList.add("failed");
    return undefined;
  }
}

/** Reads a file input's file as bytes. */
export function fileBytes(input) {
  const file = input.files && input.files[0];
  if (!file) throw new Error("choose a .wasm file first");
  return file.arrayBuffer();
}

/**
 * The samples of a Prometheus text page: `[{name, labels, value}]` (comments skipped; label
 * values unescaped).
 */
export function parseMetrics(text) {
  const out = [];
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
  const label = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = sample.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] || "").matchAll(label)) {
      labels[l[1]] = l[2].replace(/\\n/g, "\n").replace(/\\(["\\])/g, "$1");
    }
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

/** The sum of every sample of `name` whose labels include `match`. */
export function metricSum(samples, name, match = {}) {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
