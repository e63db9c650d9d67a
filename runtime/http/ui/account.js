// Account: API keys (create — the key is shown once —, list by prefix, revoke), the budget
// (set, remove, this month's projection, break-even advice) and the quotas in force with the
// usage against them. The admin sees the tenant chosen on the overview.
"use strict";
import { $, api, cell, el, fillRows, guarded, session, tenantQuery, usd, when } from "./lib.js";

/** Which usage figure counts against which quota. */
const USED = {
  max_functions: "functions",
  max_kv_keys: "kv_keys",
  max_concurrency: "in_flight",
  max_async_queued: "async_queued",
};

async function loadKeys() {
  const keys = await api("/v1/keys" + tenantQuery());
  fillRows($("#keys"), keys.map((k) => {
    const tr = el("tr", { dataset: { id: String(k.id), prefix: k.prefix } });
    cell(tr, k.prefix + "…", "prefix");
    cell(tr, k.name || "–", "name");
    cell(tr, when(k.created_at_ms), "created");
    cell(tr, k.revoked ? "revoked " + when(k.revoked_at_ms) : "active", "state");
    cell(tr, k.revoked ? "" : el("button", {
      type: "button", className: "revoke", textContent: "Revoke",
      attrs: { "aria-label": `revoke key ${k.prefix}` },
      on: { click: () => revoke(k) },
    }), "action");
    return tr;
  }));
}

async function revoke(k) {
  if (!confirm(`Revoke key ${k.prefix}…? Calls made with it will be refused.`)) return;
  await guarded($("#notice"), async () => {
    await api("/v1/keys/" + k.id + tenantQuery(), { method: "DELETE" });
    $("#notice").textContent = `key ${k.prefix}… revoked`;
    await loadKeys();
  });
}

async function loadBudget() {
  const s = await api("/v1/billing/statement" + tenantQuery());
  $("#acct-spent").textContent = usd(s.total_usd);
  $("#acct-spent").dataset.value = String(s.total_usd);
  $("#acct-projected").textContent = usd(s.projected_total_usd);
  $("#acct-projected").dataset.value = String(s.projected_total_usd);
  const budget = $("#acct-budget");
  if (s.budget) {
    budget.textContent = s.budget.monthly_usd.toFixed(2);
    budget.dataset.value = String(s.budget.monthly_usd);
    $("#acct-budget-state").textContent = `${s.budget.state} (${s.budget.policy}): ${s.budget.message}`;
    $("#acct-budget-state").className = s.budget.state;
    $("#budget-usd").value = String(s.budget.monthly_usd);
    $("#budget-policy").value = s.budget.policy;
  } else {
    budget.textContent = "none";
    delete budget.dataset.value;
    $("#acct-budget-state").textContent = "";
  }
  fillRows($("#advice"), s.advice.map((a) => {
    const tr = el("tr", { dataset: { function: a.function } });
    cell(tr, a.function);
    cell(tr, usd(a.cost_usd), "cost", a.cost_usd);
    cell(tr, usd(a.projected_monthly_usd), "projected", a.projected_monthly_usd);
    cell(tr, a.dedicated_monthly_usd.toFixed(2), "dedicated", a.dedicated_monthly_usd);
    cell(tr, a.message, "message");
    return tr;
  }));
}

async function loadQuotas() {
  const q = await api("/v1/quotas" + tenantQuery());
  fillRows($("#quotas"), Object.entries(q.quotas).map(([name, limit]) => {
    const tr = el("tr", { dataset: { quota: name } });
    cell(tr, name.replaceAll("_", " "));
    cell(tr, String(limit), "limit", limit);
    let used = USED[name] !== undefined ? q.used[USED[name]] : null;
    let usedText = used === null ? "–" : String(used);
    if (name === "node_memory_percent") {
      used = q.used.node_memory_bytes;
      usedText = `${(used / 1048576).toFixed(1)} MiB now`;
    }
    cell(tr, usedText, "used", used);
    cell(tr, q.overrides[name] !== null && q.overrides[name] !== undefined ? "admin" : "default", "source");
    return tr;
  }));
}

export async function show() {
  await Promise.all([loadKeys(), loadBudget(), loadQuotas()]);
}

$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  guarded($("#notice"), async () => {
    const name = $("#key-name").value.trim();
    const created = await api("/v1/keys" + tenantQuery(), { method: "POST", body: name ? { name } : {} });
    $("#new-key").textContent = created.api_key;
    $("#new-key-box").hidden = false;
    $("#key-name").value = "";
    await loadKeys();
  });
});

$("#budget-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const out = $("#budget-result");
  guarded(out, async () => {
    const b = await api("/v1/billing/budget" + tenantQuery(), {
      method: "PUT",
      body: { monthly_usd: Number($("#budget-usd").value), policy: $("#budget-policy").value },
    });
    out.textContent = `budget set: ${b.message}`;
    await loadBudget();
  });
});

$("#budget-remove").addEventListener("click", () => {
  const out = $("#budget-result");
  guarded(out, async () => {
    await api("/v1/billing/budget" + tenantQuery(), { method: "DELETE" });
    out.textContent = "budget removed";
    await loadBudget();
  });
});

// A key shown once is forgotten when the page is left.
window.addEventListener("hashchange", () => {
  $("#new-key").textContent = "";
  $("#new-key-box").hidden = true;
});
