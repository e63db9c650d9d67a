// Logs: a function's latest lines filtered by invocation and outcome, the live tail (the
// server-sent events `geyser logs --follow` reads, through fetch so the key goes in a header),
// the latest invocations, and one invocation's record with its lines.
"use strict";
import { $, api, cell, el, fillRows, fnPath, guarded, session, when } from "./lib.js";

let tail = null; // { abort: AbortController } while the live tail runs

function filters() {
  const q = new URLSearchParams();
  const invocation = $("#logs-invocation").value.trim();
  if (invocation) q.set("invocation", invocation);
  const outcome = $("#logs-outcome").value;
  if (outcome) q.set("outcome", outcome);
  return q;
}

const invocationLink = (name, id) => el("button", {
  type: "button", className: "link invocation", textContent: id,
  attrs: { "aria-label": "invocation " + id },
  on: { click: () => { location.hash = `#/logs/${encodeURIComponent(name)}/${encodeURIComponent(id)}`; } },
});

function lineRow(name, line) {
  const tr = el("tr", { dataset: { id: String(line.id), invocation: line.invocation } });
  cell(tr, line.at, "at");
  cell(tr, invocationLink(name, line.invocation), "invocation");
  cell(tr, line.level, "level");
  cell(tr, line.message, "message");
  return tr;
}

async function loadLines(name) {
  const q = filters();
  q.set("limit", "200");
  const lines = await api(fnPath(name) + "/logs?" + q);
  fillRows($("#log-lines"), lines.map((l) => lineRow(name, l)), $("#logs-empty"));
}

async function loadInvocations(name) {
  const list = await api(fnPath(name) + "/invocations?limit=50");
  fillRows($("#invocations"), list.map((r) => {
    const tr = el("tr", { dataset: { id: r.id, outcome: r.outcome } });
    cell(tr, invocationLink(name, r.id), "id");
    cell(tr, when(r.started_at_ms), "started", r.started_at_ms);
    cell(tr, String(r.version), "version", r.version);
    cell(tr, r.trigger, "trigger");
    cell(tr, r.outcome, "outcome");
    cell(tr, r.http_status === null ? "–" : String(r.http_status), "status", r.http_status);
    cell(tr, r.wall_ms.toFixed(3), "wall", r.wall_ms);
    cell(tr, r.cpu_ms.toFixed(3), "cpu", r.cpu_ms);
    return tr;
  }), $("#invocations-empty"));
}

async function loadInvocation(name, id) {
  const panel = $("#invocation-panel");
  if (!id) {
    panel.hidden = true;
    return;
  }
  const r = await api(fnPath(name) + "/invocations/" + encodeURIComponent(id));
  $("#inv-id").textContent = r.id;
  const fields = [
    ["outcome", r.outcome], ["HTTP status", r.http_status ?? "–"], ["trigger", r.trigger],
    ["version", r.version], ["started", when(r.started_at_ms)], ["wall (ms)", r.wall_ms],
    ["CPU (ms)", r.cpu_ms], ["peak memory (bytes)", r.peak_memory_bytes],
    ["memory limit (bytes)", r.memory_limit_bytes], ["GB-seconds", r.gb_seconds],
    ["outbound requests", r.outbound_requests], ["outbound bytes", r.outbound_bytes],
    ["trace (traceparent)", r.traceparent ?? "–"],
  ];
  const keys = ["outcome", "http_status", "trigger", "version", "started_at_ms", "wall_ms", "cpu_ms",
    "peak_memory_bytes", "memory_limit_bytes", "gb_seconds", "outbound_requests", "outbound_bytes", "traceparent"];
  $("#invocation-record").replaceChildren(...fields.flatMap(([label, value], i) => [
    el("dt", { textContent: label }),
    el("dd", { textContent: String(value), dataset: { field: keys[i], value: JSON.stringify(r[keys[i]]) } }),
  ]));
  fillRows($("#invocation-lines"), r.logs.map((l) => {
    const tr = el("tr", { dataset: { id: String(l.id) } });
    cell(tr, l.at, "at");
    cell(tr, l.level, "level");
    cell(tr, l.message, "message");
    return tr;
  }));
  panel.hidden = false;
}

/** Reads server-sent events from `reply`'s body, calling `onEvent(type, data, id)`. */
async function readEvents(reply, onEvent) {
  const reader = reply.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = "message", data = "", id = null;
      for (const line of block.split("\n")) {
        const colon = line.indexOf(":");
        if (colon === 0) continue; // a comment (keep-alive)
        const field = colon < 0 ? line : line.slice(0, colon);
        const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
        if (field === "event") type = text;
        else if (field === "data") data += (data ? "\n" : "") + text;
        else if (field === "id") id = text;
      }
      if (data) onEvent(type, data, id);
    }
  }
}

function stopTail(message) {
  if (tail) tail.abort.abort();
  tail = null;
  $("#logs-tail").setAttribute("aria-pressed", "false");
  $("#logs-tail").textContent = "Live tail";
  const state = $("#tail-state");
  state.textContent = message || "";
  state.dataset.state = "stopped";
}

async function startTail(name) {
  stopTail();
  const abort = new AbortController();
  tail = { abort };
  const state = $("#tail-state");
  $("#logs-tail").setAttribute("aria-pressed", "true");
  $("#logs-tail").textContent = "Stop tail";
  state.textContent = "connecting…";
  let lastId = null;
  const body = $("#log-lines tbody");
  // Reconnects (after Last-Event-ID) until stopped: a node restart or a proxy timeout does
  // not end the tail.
  while (tail && tail.abort === abort) {
    try {
      const headers = { Authorization: "Bearer " + session.key, Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const reply = await fetch(fnPath(name) + "/logs/stream?" + filters(), { headers, signal: abort.signal });
      if (!reply.ok) {
        const err = await reply.json().catch(() => ({}));
        return stopTail("Tail failed: " + ((err.error && err.error.message) || reply.statusText));
      }
      state.textContent = "tailing " + name + ": new lines appear below as they are written";
      state.dataset.state = "open";
      await readEvents(reply, (type, data, id) => {
        if (type !== "log") return;
        if (id) lastId = id;
        const line = JSON.parse(data);
        if (body.querySelector(`tr[data-id="${line.id}"]`)) return;
        body.appendChild(lineRow(name, line));
        $("#logs-empty").hidden = true;
        $("#log-lines").hidden = false;
        body.lastElementChild.scrollIntoView({ block: "nearest" });
      });
    } catch (err) {
      if (abort.signal.aborted) return;
      state.textContent = "tail interrupted, reconnecting: " + err.message;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

let shownName = null;

export async function show([name, invocation]) {
  const list = await api("/v1/functions");
  const select = $("#logs-function");
  select.replaceChildren(...list.map((f) => el("option", { value: f.name, textContent: f.name })));
  if (!name && list.length) name = list[0].name;
  if (name !== shownName) stopTail();
  shownName = name || null;
  if (!name) {
    fillRows($("#log-lines"), [], $("#logs-empty"));
    fillRows($("#invocations"), [], $("#invocations-empty"));
    $("#invocation-panel").hidden = true;
    return;
  }
  select.value = name;
  if (!tail) await loadLines(name);
  await loadInvocations(name);
  await loadInvocation(name, invocation);
}

export function hide() {
  stopTail();
}

$("#logs-function").addEventListener("change", () => {
  location.hash = "#/logs/" + encodeURIComponent($("#logs-function").value);
});
$("#logs-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (!shownName) return;
  const out = $("#tail-state");
  guarded(out, async () => {
    stopTail();
    await loadLines(shownName);
    await loadInvocations(shownName);
  });
});
$("#logs-tail").addEventListener("click", () => {
  if (!shownName) return;
  if (tail) stopTail("tail stopped");
  else startTail(shownName);
});
