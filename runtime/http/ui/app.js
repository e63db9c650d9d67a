// The console's entry point: sign-in, the navigation and the router (`#/page/arguments`).
// Each page is a module with `show(args)`; after a page has drawn what the API said, the body
// carries `data-ready` = the route and a fresh `data-loaded`, which is what the tests wait for.
"use strict";
import { $, $$, api, session, ApiError, notice } from "./lib.js";
import * as overview from "./overview.js";
import * as functions from "./functions.js";
import * as logs from "./logs.js";
import * as account from "./account.js";
import * as admin from "./admin.js";

/** Route name → [view element id, page module]. */
const PAGES = {
  overview: ["dashboard", overview],
  functions: ["functions-view", functions],
  function: ["function-view", { show: functions.showOne }],
  logs: ["logs-view", logs],
  account: ["account-view", account],
  admin: ["admin-view", admin],
};

/** `#/functions/hello` → ["function", ["hello"]]; anything unknown is the overview. */
function parseRoute(hash) {
  const parts = hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "functions" && parts[1]) return ["function", parts.slice(1)];
  if (parts[0] && PAGES[parts[0]]) return [parts[0], parts.slice(1)];
  return ["overview", []];
}

let shown = null;

async function route() {
  if (!$("#sign-in-panel").hidden) return;
  const [name, args] = parseRoute(location.hash);
  const tenantOnly = name === "functions" || name === "function" || name === "logs";
  if ((tenantOnly && session.isAdmin) || (name === "admin" && !session.isAdmin)) {
    notice(name === "admin" ? "The admin view needs the admin key." : "Functions belong to a tenant: sign in with its key.", true);
    location.hash = "#/";
    return;
  }
  const [viewId, page] = PAGES[name];
  if (shown && shown !== page && shown.hide) shown.hide();
  shown = page;
  for (const view of $$("[data-view]")) view.hidden = view.id !== viewId;
  const current = name === "function" ? "functions" : name;
  for (const a of $$("#nav a")) {
    if (a.dataset.page === current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  delete document.body.dataset.ready;
  try {
    await page.show(args);
    document.body.dataset.ready = location.hash || "#/";
    document.body.dataset.loaded = String(Date.now());
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signOut("Signed out: " + err.message);
    notice("Could not load this page: " + err.message, true);
  }
}

async function signIn() {
  $("#error").textContent = "";
  try {
    try {
      await api("/v1/tenants");
      session.isAdmin = true;
    } catch (err) {
      if (err.status !== 403) throw err;
      session.isAdmin = false;
    }
    sessionStorage.setItem("geyser-key", session.key);
    $("#sign-in-panel").hidden = true;
    $("#nav").hidden = false;
    for (const a of $$("#nav [data-admin-only]")) a.hidden = !session.isAdmin;
    for (const a of $$("#nav [data-tenant-only]")) a.hidden = session.isAdmin;
    $("#admin-panel").hidden = !session.isAdmin;
    $("#sign-out").hidden = false;
    $("#who").textContent = session.isAdmin ? "admin" : "tenant";
    await route();
  } catch (err) {
    sessionStorage.removeItem("geyser-key");
    $("#error").textContent = "Sign-in failed: " + err.message;
  }
}

function signOut(message) {
  sessionStorage.removeItem("geyser-key");
  if (shown && shown.hide) shown.hide();
  shown = null;
  session.key = null;
  for (const view of $$("[data-view]")) view.hidden = true;
  $("#nav").hidden = true;
  $("#sign-out").hidden = true;
  $("#who").textContent = "";
  $("#sign-in-panel").hidden = false;
  $("#error").textContent = message || "";
}

$("#sign-in-form").addEventListener("submit", (e) => {
  e.preventDefault();
  session.key = $("#key").value.trim();
  signIn();
});
$("#sign-out").addEventListener("click", () => signOut(""));
window.addEventListener("hashchange", () => {
  notice("");
  route();
});
// Pages ask for a redraw of what is shown (after a change they made) with this event.
window.addEventListener("geyser:refresh", () => route());
if (session.key) signIn();
setInterval(() => {
  if (shown === overview && !$("#dashboard").hidden) overview.show([]);
}, 30000);
