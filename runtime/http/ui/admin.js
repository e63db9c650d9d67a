// The admin view: tenants (create — the first key is shown once —, disable/enable, quotas)
// and this node's health read from its /metrics: instance slots, guest memory against the
// node's budget, the compile gate, cold starts, per-tenant traffic.
"use strict";
import { $, api, cell, el, fillRows, guarded, metricSum, parseMetrics } from "./lib.js";

const MIB = 1048576;
let samples = [];

function health() {
  const m = (name, match) => metricSum(samples, name, match);
  const set = (id, text, value) => {
    $(id).textContent = text;
    $(id).dataset.value = JSON.stringify(value);
  };
  set("#node-instances", `${m("geyser_instances_in_use")} of ${m("geyser_instances_max")}`,
    [m("geyser_instances_in_use"), m("geyser_instances_max")]);
  const committed = m("geyser_guest_memory_committed_bytes");
  const budget = m("geyser_guest_memory_budget_bytes");
  set("#node-memory", (committed / MIB).toFixed(1), committed);
  $("#node-memory-budget").textContent =
    `of ${(budget / MIB).toFixed(0)} MiB budget; peak ${(m("geyser_guest_memory_committed_peak_bytes") / MIB).toFixed(1)} MiB`;
  $("#node-memory-budget").dataset.value = String(budget);
  set("#node-compiles", `${m("geyser_compiles_running")} / ${m("geyser_compiles_waiting")}`,
    [m("geyser_compiles_running"), m("geyser_compiles_waiting")]);
  set("#node-cold-starts", String(m("geyser_cold_starts_total")), m("geyser_cold_starts_total"));
  set("#node-resident", String(m("geyser_resident_functions")), m("geyser_resident_functions"));
  set("#node-refusals", String(m("geyser_memory_refusals_total")), m("geyser_memory_refusals_total"));
}

async function loadTenants() {
  const tenants = await api("/v1/tenants");
  const rows = [];
  for (const t of tenants) {
    const s = await api("/v1/billing/statement?tenant=" + encodeURIComponent(t.name));
    const onNode = metricSum(samples, "geyser_function_invocations_total", { tenant: t.name });
    const tr = el("tr", { dataset: { tenant: t.name, disabled: String(t.disabled) } });
    cell(tr, t.name);
    cell(tr, t.disabled ? "disabled" : "active", "state");
    cell(tr, String(s.requests), "requests", s.requests);
    cell(tr, String(onNode), "node-invocations", onNode);
    cell(tr, el("button", {
      type: "button", className: t.disabled ? "enable" : "disable",
      textContent: t.disabled ? "Enable" : "Disable",
      attrs: { "aria-label": (t.disabled ? "enable " : "disable ") + t.name },
      on: { click: () => toggle(t) },
    }), "action");
    rows.push(tr);
  }
  fillRows($("#admin-tenants"), rows);
  const select = $("#quota-tenant");
  const chosen = select.value;
  select.replaceChildren(...tenants.map((t) => el("option", { value: t.name, textContent: t.name })));
  if (chosen && tenants.some((t) => t.name === chosen)) select.value = chosen;
}

async function toggle(t) {
  await guarded($("#notice"), async () => {
    await api(`/v1/tenants/${encodeURIComponent(t.name)}/${t.disabled ? "enable" : "disable"}`, { method: "POST" });
    $("#notice").textContent = `${t.name} ${t.disabled ? "enabled" : "disabled"}`;
    await loadTenants();
  });
}

async function loadQuotaForm() {
  const tenant = $("#quota-tenant").value;
  const form = $("#quota-form");
  if (!tenant) {
    form.replaceChildren();
    return;
  }
  const q = await api("/v1/quotas?tenant=" + encodeURIComponent(tenant));
  const fields = Object.entries(q.quotas).flatMap(([name, value]) => {
    const id = "quota-" + name;
    const override = q.overrides[name];
    return [
      el("label", { htmlFor: id, textContent: name.replaceAll("_", " ") }),
      el("input", {
        id, name, type: "number", min: "0", step: "any",
        value: override === null || override === undefined ? "" : String(override),
        placeholder: `${value} (default)`,
        dataset: { effective: String(value) },
      }),
    ];
  });
  form.replaceChildren(...fields, el("span"), el("button", { id: "quota-save", type: "submit", textContent: "Save quotas" }));
  // The form says whose quotas it holds: saving writes that tenant's, whatever the selector
  // shows meanwhile.
  form.dataset.tenant = tenant;
}

export async function show() {
  samples = parseMetrics(await api("/metrics", { text: true }));
  health();
  await loadTenants();
  await loadQuotaForm();
}

$("#tenant-form").addEventListener("submit", (e) => {
  e.preventDefault();
  guarded($("#notice"), async () => {
    const created = await api("/v1/tenants", { method: "POST", body: { name: $("#tenant-name").value.trim() } });
    $("#new-tenant-key").textContent = created.api_key;
    $("#new-tenant-box").hidden = false;
    $("#tenant-name").value = "";
    $("#notice").textContent = `tenant ${created.name} created`;
    await loadTenants();
  });
});

$("#quota-tenant").addEventListener("change", () => guarded($("#quota-result"), loadQuotaForm));

$("#quota-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = $("#quota-result");
  const tenant = $("#quota-form").dataset.tenant;
  guarded(out, async () => {
    const overrides = {};
    for (const input of $("#quota-form").querySelectorAll("input")) {
      overrides[input.name] = input.value === "" ? null : Number(input.value);
    }
    await api("/v1/quotas?tenant=" + encodeURIComponent(tenant), { method: "PUT", body: overrides });
    out.textContent = `quotas of ${tenant} saved`;
    await loadQuotaForm();
  });
});

window.addEventListener("hashchange", () => {
  $("#new-tenant-key").textContent = "";
  $("#new-tenant-box").hidden = true;
});
