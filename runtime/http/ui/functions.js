// Functions: the tenant's list with a deploy by upload, and one function's page — its
// versions (artifact hash, size, limits, configuration with secret names only) with rollback,
// a new version by upload, aliases and canary weights with their events and promote, cron
// schedules with next fire times and runs, Kafka bindings with their lag, the async queue.
"use strict";
import { $, api, cell, duration, el, fileBytes, fillRows, fnPath, guarded, metricSum, parseMetrics, when } from "./lib.js";


/** Uploads `bytes` as a new version of `name` with the limits in `query`; the deploy reply. */
function upload(name, bytes, query) {
  const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v !== "" && v !== null && v !== undefined));
  const qs = params.toString();
  return api(fnPath(name) + (qs ? "?" + qs : ""), { method: "PUT", raw: bytes });
}

const deployed = (d) => `deployed ${d.name} version ${d.version} (sha256 ${d.sha256.slice(0, 12)}…)` + (d.live ? ", live" : ", not live: call it at " + d.url);

export async function show() {
  const list = await api("/v1/functions");
  const rows = list.map((f) => {
    const tr = el("tr", { dataset: { function: f.name } });
    cell(tr, el("a", { href: "#/functions/" + encodeURIComponent(f.name), textContent: f.name }));
    cell(tr, f.kind, "kind");
    cell(tr, String(f.active_version), "active", f.active_version);
    cell(tr, String(f.memory_mb), "memory", f.memory_mb);
    cell(tr, String(f.timeout_ms), "timeout", f.timeout_ms);
    cell(tr, f.url, "url");
    return tr;
  });
  fillRows($("#function-list"), rows, $("#function-list-empty"));
}

$("#deploy-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = $("#deploy-result");
  out.textContent = "uploading…";
  guarded(out, async () => {
    const bytes = await fileBytes($("#deploy-file"));
    const d = await upload($("#deploy-name").value.trim(), bytes, {
      memory_mb: $("#deploy-memory").value,
      timeout_ms: $("#deploy-timeout").value,
    });
    out.textContent = deployed(d);
    out.dataset.version = String(d.version);
    await show();
  });
});

// ---- one function ----

let current = null; // the function shown: its API record

function configText(c) {
  const parts = [];
  const vars = Object.keys(c.variables);
  if (vars.length) parts.push("variables: " + vars.join(", "));
  if (c.secrets.length) parts.push("secrets: " + c.secrets.join(", "));
  if (c.allowed_outbound_hosts.length) parts.push("outbound: " + c.allowed_outbound_hosts.join(", "));
  return parts.join("; ") || "–";
}

function versionRows(f) {
  return [...f.versions].reverse().map((v) => {
    const tr = el("tr", { dataset: { version: String(v.version) } });
    cell(tr, String(v.version), "version", v.version);
    cell(tr, v.sha256.slice(0, 16) + "…", "hash", v.sha256).title = v.sha256;
    cell(tr, v.size_bytes.toLocaleString("en"), "size", v.size_bytes);
    cell(tr, v.kind, "kind");
    cell(tr, String(v.memory_mb), "memory", v.memory_mb);
    cell(tr, String(v.timeout_ms), "timeout", v.timeout_ms);
    cell(tr, v.cpu_limit_ms === null ? "–" : String(v.cpu_limit_ms), "cpu", v.cpu_limit_ms);
    cell(tr, configText(v.config), "config");
    cell(tr, when(v.created_at_ms), "created");
    const action = v.version === f.active_version
      ? "active"
      : el("button", {
        type: "button", className: "rollback", textContent: "Roll back to " + v.version,
        on: { click: () => rollback(v.version) },
      });
    cell(tr, action, "action");
    return tr;
  });
}

async function rollback(version) {
  const out = $("#upload-result");
  await guarded(out, async () => {
    const f = await api(fnPath(current.name) + "/rollback", { method: "POST", body: { version } });
    out.textContent = `rolled back to version ${f.active_version}`;
    await showOne([current.name]);
  });
}

function aliasRows(aliases) {
  return aliases.map((a) => {
    const tr = el("tr", { dataset: { alias: a.alias } });
    cell(tr, a.alias, "alias");
    cell(tr, String(a.version), "version", a.version);
    cell(tr, a.canary ? String(a.canary.version) : "–", "canary", a.canary ? a.canary.version : null);
    cell(tr, a.canary ? String(a.canary.weight) : "–", "weight", a.canary ? a.canary.weight : null);
    cell(tr, a.alias === "live" ? String(a.auto_promote) : "–", "auto-promote");
    cell(tr, when(a.updated_at_ms), "updated");
    cell(tr, a.canary
      ? el("button", { type: "button", className: "promote", textContent: `Promote ${a.canary.version}`, on: { click: () => promote(a.alias) } })
      : "", "action");
    return tr;
  });
}

async function promote(alias) {
  const out = $("#alias-result");
  await guarded(out, async () => {
    const a = await api(fnPath(current.name) + "/aliases/" + encodeURIComponent(alias) + "/promote", { method: "POST" });
    out.textContent = `${a.alias} now runs version ${a.version}`;
    await showOne([current.name]);
  });
}

function eventRows(events) {
  return events.map((e) => {
    const tr = el("tr", { dataset: { kind: e.kind, alias: e.alias } });
    cell(tr, when(e.at_ms), "at", e.at_ms);
    cell(tr, e.alias, "alias");
    cell(tr, e.kind, "kind");
    cell(tr, String(e.version), "version", e.version);
    cell(tr, e.canary_version ? `${e.canary_version} at ${e.canary_weight}` : "–", "canary");
    cell(tr, e.detail || "", "detail");
    return tr;
  });
}

async function cronBlock(name, c) {
  const runs = await api(fnPath(name) + "/triggers/cron/" + encodeURIComponent(c.name) + "/runs");
  const box = el("div", { className: "schedule", dataset: { schedule: c.name } });
  const runNow = el("button", {
    type: "button", textContent: "Run now",
    on: {
      click: () => guarded(box.querySelector(".run-result"), async () => {
        const r = await api(fnPath(name) + "/triggers/cron/" + encodeURIComponent(c.name) + "/run", { method: "POST", body: {} });
        box.querySelector(".run-result").textContent = `ran for ${r.scheduled_time}: ${r.outcome}`;
        await showOne([name]);
      }),
    },
  });
  box.append(
    el("h3", { textContent: `${c.name}: ${c.expression} (${c.timezone})` }),
    el("p", {}, "next: ", el("span", { className: "next", textContent: c.next.join(", ") || "–", dataset: { next: JSON.stringify(c.next) } }),
      ` · missed ${c.missed} · overlap ${c.overlap} · alias ${c.alias} · `, runNow),
    el("p", { className: "run-result", attrs: { role: "status" } }),
  );
  const table = el("table", { className: "runs" },
    el("thead", {}, el("tr", {}, ...["scheduled", "fired", "manual", "outcome", "attempts", "invocation"].map((h) => el("th", { textContent: h })))),
    el("tbody"));
  fillRows(table, runs.slice(0, 20).map((r) => {
    const tr = el("tr", { dataset: { scheduled: r.scheduled_time } });
    cell(tr, r.scheduled_time, "scheduled");
    cell(tr, r.fired_at, "fired");
    cell(tr, r.manual ? "yes" : "no", "manual");
    cell(tr, r.outcome || "running", "outcome");
    cell(tr, String(r.attempts), "attempts", r.attempts);
    cell(tr, r.invocation ? el("a", { href: `#/logs/${encodeURIComponent(name)}/${encodeURIComponent(r.invocation)}`, textContent: r.invocation }) : "–", "invocation");
    return tr;
  }));
  box.append(el("div", { className: "scroll" }, table));
  if (runs.length === 0) box.append(el("p", { className: "empty", textContent: "no runs yet" }));
  return box;
}

async function kafkaRows(name, bindings, tenant) {
  if (bindings.length === 0) return [];
  const samples = parseMetrics(await api("/v1/metrics", { text: true }));
  return bindings.map((b) => {
    const tr = el("tr", { dataset: { topic: b.topic } });
    cell(tr, b.topic, "topic");
    cell(tr, b.alias, "alias");
    cell(tr, b.start, "start");
    cell(tr, String(b.ordered), "ordered");
    cell(tr, String(b.max_attempts), "max-attempts", b.max_attempts);
    cell(tr, b.dead_letter_topic, "dead-letter");
    const lag = metricSum(samples, "geyser_kafka_consumer_lag", { tenant, function: name, topic: b.topic });
    cell(tr, String(lag), "lag", lag);
    return tr;
  });
}

export async function showOne([name]) {
  const f = await api(fnPath(name));
  current = f;
  $("#fn-name").textContent = f.name;
  $("#fn-active").textContent = String(f.active_version);
  $("#fn-kind").textContent = f.kind;
  $("#fn-url").textContent = f.url;
  $("#fn-async-queued").textContent = String(f.async_queued);
  $("#fn-async-queued").dataset.value = String(f.async_queued);
  $("#fn-logs-link").href = "#/logs/" + encodeURIComponent(f.name);
  fillRows($("#versions"), versionRows(f));
  $("#alias-version").value = String(f.active_version);

  const [settings, aliases, crons, kafka] = await Promise.all([
    api(fnPath(name) + "/async"),
    api(fnPath(name) + "/aliases"),
    api(fnPath(name) + "/triggers/cron"),
    api(fnPath(name) + "/triggers/kafka"),
  ]);
  $("#fn-async-settings").textContent = `waiting or running; ${settings.max_attempts} attempts within ${duration(settings.max_age_ms)}`;
  fillRows($("#aliases"), aliasRows(aliases.aliases));
  const events = (await Promise.all(aliases.aliases.map(async (a) => {
    const e = await api(fnPath(name) + "/aliases/" + encodeURIComponent(a.alias) + "/events");
    return e.events.map((ev) => ({ ...ev, alias: a.alias }));
  }))).flat().sort((a, b) => b.at_ms - a.at_ms);
  fillRows($("#alias-events"), eventRows(events));

  const blocks = await Promise.all(crons.map((c) => cronBlock(name, c)));
  $("#cron").replaceChildren(...blocks);
  $("#cron-empty").hidden = crons.length > 0;
  // The tenant's name is the first part of the function's URL, /fn/{tenant}/{name}.
  const tenant = f.url.split("/")[2];
  fillRows($("#kafka"), await kafkaRows(name, kafka, tenant), $("#kafka-empty"));
}

$("#upload-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = $("#upload-result");
  out.textContent = "uploading…";
  guarded(out, async () => {
    const bytes = await fileBytes($("#upload-file"));
    // The new version keeps the active one's limits.
    const d = await upload(current.name, bytes, {
      memory_mb: current.memory_mb,
      timeout_ms: current.timeout_ms,
      cpu_limit_ms: current.cpu_limit_ms,
      public: current.public ? "true" : "",
    });
    out.textContent = deployed(d);
    out.dataset.version = String(d.version);
    await showOne([current.name]);
  });
});

$("#alias-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = $("#alias-result");
  guarded(out, async () => {
    const alias = $("#alias-name").value.trim();
    const body = { version: Number($("#alias-version").value) };
    const canary = $("#alias-canary").value;
    if (canary !== "") body.canary = { version: Number(canary), weight: Number($("#alias-weight").value || 0) };
    const a = await api(fnPath(current.name) + "/aliases/" + encodeURIComponent(alias), { method: "PUT", body });
    out.textContent = `${a.alias} → version ${a.version}` + (a.canary ? `, ${a.canary.weight} to version ${a.canary.version}` : "");
    await showOne([current.name]);
  });
});
