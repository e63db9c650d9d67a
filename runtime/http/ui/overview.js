// The overview: this month's statement, the functions of the chosen window with their charts
// (uPlot), and for the admin the tenants with a selector of whose figures are shown.
"use strict";
import { $, api, cell, el, ms, session, tenantQuery, usd } from "./lib.js";

const HOUR_MS = 3600000;

// One value per hour of the window, empty hours as zero (latency: no value).
function hourly(series, f) {
  const byHour = new Map(f.points.map((p) => [p.hour_ms, p]));
  const out = { x: [], ok: [], errors: [], all: [], p50: [], p99: [] };
  for (let h = series.from_ms; h < series.to_ms; h += HOUR_MS) {
    const p = byHour.get(h);
    out.x.push(h / 1000);
    out.ok.push(p ? p.invocations - p.errors : 0);
    out.errors.push(p ? p.errors : 0);
    out.all.push(p ? p.invocations : 0);
    out.p50.push(p && p.p50_ms !== null ? p.p50_ms : null);
    out.p99.push(p && p.p99_ms !== null ? p.p99_ms : null);
  }
  return out;
}

// Cost per local calendar day of the window.
function daily(series, f) {
  const days = new Map();
  const dayOf = (t) => {
    const d = new Date(t);
    d.setHours(0, 0, 0, 0);
    return d.getTime();
  };
  for (let h = series.from_ms; h < series.to_ms; h += HOUR_MS) {
    if (!days.has(dayOf(h))) days.set(dayOf(h), 0);
  }
  for (const p of f.points) days.set(dayOf(p.hour_ms), (days.get(dayOf(p.hour_ms)) || 0) + p.cost_usd);
  const keys = [...days.keys()].sort((a, b) => a - b);
  return { x: keys.map((k) => k / 1000), cost: keys.map((k) => days.get(k)) };
}

const bars = () => uPlot.paths.bars({ size: [0.8, 40] });
const tick = (v) => (Math.abs(v) >= 0.01 || v === 0 ? String(+v.toFixed(2)) : v.toExponential(1));

// A uPlot chart in a labelled box; the data it draws is kept on the box (data-series) so
// what is drawn can be compared with the API. Boxes are laid out first and drawn after
// (pending), so each chart takes its box's final width.
function chart(container, title, kind, data, series, drawn, pending) {
  const box = el("figure", {
    className: "chart",
    dataset: { kind, series: JSON.stringify(drawn) },
    attrs: { role: "img", "aria-label": title },
  }, el("figcaption", { textContent: title }));
  container.appendChild(box);
  pending.push(() => new uPlot({
    width: Math.max((box.clientWidth || 360) - 10, 200),
    height: 150,
    series: [{}, ...series],
    axes: [{}, { size: 64, values: (u, ticks) => ticks.map(tick) }],
    scales: { x: { time: true } },
    legend: { live: true },
    cursor: { points: { show: true } },
  }, data, box));
}

function drawCharts(series) {
  const root = $("#charts");
  root.replaceChildren();
  if (series.functions.length === 0) {
    root.appendChild(el("p", { className: "empty", textContent: "no invocations yet" }));
    return;
  }
  const pending = [];
  for (const f of series.functions) {
    root.appendChild(el("h3", { textContent: f.function }));
    const grid = el("div", { className: "charts", dataset: { function: f.function } });
    root.appendChild(grid);
    const hours = hourly(series, f);
    const bar = (label, color) => ({ label, fill: color, stroke: color, width: 0, paths: bars(), points: { show: false } });
    // ok and errors stacked: the errors drawn over the bottom of each hour's total.
    chart(grid, "invocations per hour (ok / errors)", "invocations", [hours.x, hours.all, hours.errors],
      [bar("invocations", "#2b6cb0"), bar("errors", "#c53030")],
      { x: hours.x, ok: hours.ok, errors: hours.errors }, pending);
    chart(grid, "latency per hour (ms)", "latency", [hours.x, hours.p50, hours.p99], [
      { label: "p50", stroke: "#2f855a", spanGaps: false },
      { label: "p99", stroke: "#805ad5", spanGaps: false },
    ], { x: hours.x, p50: hours.p50, p99: hours.p99 }, pending);
    const days = daily(series, f);
    chart(grid, "cost per day (USD)", "cost", [days.x, days.cost], [
      { ...bar("cost (USD)", "#2f855a"), value: (u, v) => (v === null || v === undefined ? "–" : v.toFixed(6)) },
    ], { x: days.x, cost: days.cost }, pending);
  }
  for (const draw of pending) draw();
}

async function loadStatement() {
  const s = await api("/v1/billing/statement" + tenantQuery());
  $("#month").textContent = s.tenant + " · " + s.month;
  const total = $("#total-usd");
  total.textContent = usd(s.total_usd);
  total.dataset.value = String(s.total_usd);
  $("#total-requests").textContent = String(s.requests);
  $("#total-gb-seconds").textContent = s.gb_seconds.toFixed(6);
  $("#total-cpu-seconds").textContent = s.cpu_seconds.toFixed(6);
  $("#allocated-usd").textContent = usd(s.allocated_total_usd);
  const state = $("#budget-state");
  state.textContent = s.budget ? s.budget.state : "none";
  state.className = s.budget ? s.budget.state : "";
  $("#budget-message").textContent = s.budget ? s.budget.message : "";
  const q = await api("/v1/quotas" + tenantQuery());
  $("#async-queued").textContent = String(q.used.async_queued);
  $("#async-queued").dataset.value = String(q.used.async_queued);
  $("#async-quota").textContent = "waiting or running, of " + q.quotas.max_async_queued;
  const rows = s.lines.map((line) => {
    const tr = el("tr", { dataset: { function: line.function, trigger: line.trigger } });
    cell(tr, line.function);
    cell(tr, line.trigger);
    cell(tr, String(line.requests), "requests", line.requests);
    cell(tr, String(line.errors), "errors", line.errors);
    cell(tr, line.gb_seconds.toFixed(6), "gb-seconds", line.gb_seconds);
    cell(tr, line.cpu_seconds.toFixed(6), "cpu-seconds", line.cpu_seconds);
    cell(tr, usd(line.cost_usd), "cost", line.cost_usd);
    const advice = s.advice.find((a) => a.function === line.function);
    cell(tr, advice && advice.move_to_dedicated ? "move to dedicated" : "", "advice").title = advice ? advice.message : "";
    return tr;
  });
  $("#lines tbody").replaceChildren(...rows);
}

async function loadSeries() {
  const s = await api("/v1/usage/series?hours=" + $("#hours").value + tenantQuery("&"));
  const rows = s.functions.map((f) => {
    const tr = el("tr", { dataset: { function: f.function } });
    // A tenant opens the function's page from here; the admin cannot (functions are the tenant's).
    cell(tr, session.isAdmin ? f.function : el("a", { href: "#/functions/" + encodeURIComponent(f.function), textContent: f.function }));
    cell(tr, String(f.invocations), "invocations", f.invocations);
    cell(tr, String(f.errors), "errors", f.errors);
    cell(tr, ms(f.p50_ms), "p50", f.p50_ms);
    cell(tr, ms(f.p99_ms), "p99", f.p99_ms);
    cell(tr, usd(f.cost_usd), "cost", f.cost_usd);
    return tr;
  });
  $("#functions tbody").replaceChildren(...rows);
  drawCharts(s);
}

async function loadTenants() {
  const tenants = await api("/v1/tenants");
  const select = $("#tenant");
  const chosen = session.tenant || select.value;
  select.replaceChildren(...tenants.map((t) => el("option", { value: t.name, textContent: t.name })));
  if (chosen && tenants.some((t) => t.name === chosen)) select.value = chosen;
  session.tenant = select.value;
  const rows = [];
  for (const t of tenants) {
    const s = await api("/v1/billing/statement?tenant=" + encodeURIComponent(t.name));
    const tr = el("tr", { dataset: { tenant: t.name } });
    cell(tr, t.name);
    cell(tr, String(s.requests), "requests", s.requests);
    cell(tr, usd(s.total_usd), "cost", s.total_usd);
    rows.push(tr);
  }
  $("#tenants tbody").replaceChildren(...rows);
  return tenants.length > 0;
}

export async function show() {
  if (session.isAdmin && !(await loadTenants())) return;
  await loadStatement();
  await loadSeries();
}

$("#tenant").addEventListener("change", () => {
  session.tenant = $("#tenant").value;
  window.dispatchEvent(new Event("geyser:refresh"));
});
$("#hours").addEventListener("change", () => loadSeries());
