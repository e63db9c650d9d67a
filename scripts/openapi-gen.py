#!/usr/bin/env python3
"""Writes runtime/http/src/openapi.json, the OpenAPI 3.1 document of the management API served
at /v1/openapi.json. Edit this file and run it after changing an endpoint; the test
tests/tests/access.rs::the_openapi_document_matches_the_router fails until the document lists
exactly the router's endpoints with their access, and scripts/schemathesis.sh checks the
statuses against a live node."""
import os
import json
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def p(name, where="query", schema=None, required=False, desc=None):
    d={"name":name,"in":where,"required":required or where=="path","schema":schema or {"type":"string"}}
    if desc: d["description"]=desc
    return d
tenant_q = p("tenant", desc="The admin names a tenant; a tenant may name only itself.")
fn = p("name","path",{"type":"string","pattern":"^[a-z0-9][a-z0-9-]{0,62}$"},desc="Function name")
alias_p = p("alias","path",{"type":"string","pattern":"^[a-z0-9-]{1,63}$"},desc="Alias name (not all digits); live is the active version")
err = {"description":"Error","content":{"application/json":{"schema":ref("Error")}}}
def resp(code, desc, schema=None, ctype="application/json"):
    r={str(code):{"description":desc}}
    if schema: r[str(code)]["content"]={ctype:{"schema":schema}}
    return r
def errors(*codes):
    out={}
    for c in codes: out[str(c)]=err
    return out
obj={"type":"object"}
def op(summary, access, responses, params=None, body=None, public=False):
    o={"summary":summary,"x-geyser-access":access,"responses":dict(responses)}
    if body:
        o["responses"].update(errors(400,413,415,422))
    if params: o["parameters"]=params
    if body: o["requestBody"]=body
    o["security"]=[] if public else [{"bearer":[]}]
    return o
def jbody(schema, required=True):
    return {"required":required,"content":{"application/json":{"schema":schema}}}
A401=errors(400,401,403,404)
log_q=[p("limit",schema={"type":"integer","minimum":0}),p("invocation",desc="only this invocation's lines"),p("outcome",schema={"type":"string","enum":["ok","error","timeout","memory-limit","trap","rejected","cancelled","cpu-limit"]}),p("after",schema={"type":"integer"},desc="a line's id: the lines after it, oldest first")]
paths={
 "/healthz":{"get":op("Liveness","public",resp(200,"ok",{"type":"string"},"text/plain"),public=True)},
 "/readyz":{"get":op("Readiness for a load balancer: 200 when the database answers, the compiled-artifact cache can be written and (if configured) a Kafka broker answers; 503 otherwise and while draining after SIGTERM","public",{**resp(200,"ready",ref("Readiness")),**resp(503,"not ready (the checks say why) or draining",ref("Readiness"))},public=True)},
 "/metrics":{"get":op("Prometheus metrics of the whole node (every tenant)","admin",{**resp(200,"text exposition",{"type":"string"},"text/plain"),**errors(401,403)})},
 "/ui":{"get":op("The console (dashboard, functions, logs, account, admin)","public",resp(200,"HTML",{"type":"string"},"text/html"),public=True)},
 "/ui/{asset}":{"get":op("A file of the console: its modules (app.js, lib.js, overview.js, functions.js, logs.js, account.js, admin.js), console.css, and the vendored chart library (uplot.js, uplot.css)","public",{**resp(200,"script or stylesheet",{"type":"string"},"text/javascript"),**errors(404)},[p("asset","path")],public=True)},
 "/v1/openapi.json":{"get":op("This document","public",resp(200,"OpenAPI 3",obj),public=True)},
 "/v1/tenants":{
   "post":op("Create a tenant (returns its first key, once)","admin",{**resp(201,"created",ref("CreatedTenant")),**errors(400,401,403,409)},body=jbody({"type":"object","additionalProperties":False,"required":["name"],"properties":{"name":{"type":"string"}}})),
   "get":op("List tenants","admin",{**resp(200,"tenants",{"type":"array","items":ref("Tenant")}),**errors(401,403)})},
 "/v1/tenants/{tenant}/disable":{"post":op("Disable a tenant: its functions stop answering, its keys are refused, its data stays","admin",{**resp(200,"tenant",ref("Tenant")),**A401},[p("tenant","path")])},
 "/v1/tenants/{tenant}/enable":{"post":op("Enable a disabled tenant","admin",{**resp(200,"tenant",ref("Tenant")),**A401},[p("tenant","path")])},
 "/v1/keys":{
   "get":op("List API keys (prefix only)","tenant-or-admin",{**resp(200,"keys",{"type":"array","items":ref("Key")}),**A401},[tenant_q]),
   "post":op("Create an API key (the secret is returned once)","tenant-or-admin",{**resp(201,"created",ref("CreatedKey")),**A401},[tenant_q],jbody({"type":"object","additionalProperties":False,"properties":{"name":{"type":"string","maxLength":64}}},False))},
 "/v1/keys/{id}":{"delete":op("Revoke an API key","tenant-or-admin",{**resp(200,"revoked key",ref("Key")),**A401},[p("id","path",{"type":"integer"}),tenant_q])},
 "/v1/quotas":{
   "get":op("Quotas in force, overrides and use","tenant-or-admin",{**resp(200,"quotas",ref("QuotaReport")),**A401},[tenant_q]),
   "put":op("Replace a tenant's quota overrides (fields left out: defaults)","admin",{**resp(200,"quotas",ref("QuotaReport")),**A401},[p("tenant",required=True)],jbody(ref("QuotaOverrides")))},
 "/v1/functions":{"get":op("List the tenant's functions","tenant",{**resp(200,"functions",{"type":"array","items":ref("Function")}),**errors(401,403)})},
 "/v1/functions/{name}":{
   "get":op("Show a function","tenant",{**resp(200,"function",ref("Function")),**A401},[fn]),
   "put":op("Deploy a new version (body: the component)","tenant",{**resp(201,"deployed",ref("Deployed")),**errors(400,401,403,404,413,422,429,503)},[fn,p("memory_mb",schema={"type":"integer","minimum":1}),p("timeout_ms",schema={"type":"integer","minimum":1}),p("cpu_limit_ms",schema={"type":"integer","minimum":1}),p("public",schema={"type":"boolean"})],{"required":True,"content":{"application/octet-stream":{"schema":{"type":"string","format":"binary"}}}}),
   "delete":op("Delete a function and its triggers","tenant",{**resp(204,"deleted"),**A401},[fn])},
 "/v1/functions/{name}/versions/{version}/artifact":{"get":op("The component a version runs, as uploaded","tenant",{**resp(200,"component",{"type":"string","format":"binary"},"application/wasm"),**A401},[fn,p("version","path",{"type":"integer","minimum":1})])},
 "/v1/functions/{name}/rollback":{"post":op("Make an earlier version active","tenant",{**resp(200,"function",ref("Function")),**A401},[fn],jbody({"type":"object","additionalProperties":False,"required":["version"],"properties":{"version":{"type":"integer"}}}))},
 "/v1/functions/{name}/aliases":{"get":op("The function's aliases, live (the active version) first","tenant",{**resp(200,"aliases",ref("AliasList")),**A401},[fn])},
 "/v1/functions/{name}/aliases/{alias}":{
   "get":op("One alias","tenant",{**resp(200,"alias",ref("Alias")),**A401},[fn,alias_p]),
   "put":op("Set an alias: its version (for live, the active version), an optional canary with a weight, a sticky header and a rollback rule; for live, whether deploys move it","tenant",{**resp(200,"alias",ref("Alias")),**A401},[fn,alias_p],jbody(ref("AliasSpec"))),
   "delete":op("Remove an alias (live cannot be removed)","tenant",{**resp(204,"removed"),**A401},[fn,alias_p])},
 "/v1/functions/{name}/aliases/{alias}/promote":{"post":op("The alias's canary becomes its version","tenant",{**resp(200,"alias",ref("Alias")),**A401},[fn,alias_p])},
 "/v1/functions/{name}/aliases/{alias}/events":{"get":op("The alias's history: set, promoted, rolled back (by the node, with the reason)","tenant",{**resp(200,"events",obj),**A401},[fn,alias_p])},
 "/v1/functions/{name}/config":{
   "get":op("The active version's configuration: variables, secret names (never values), allowed outbound hosts","tenant",{**resp(200,"configuration",ref("Configured")),**A401},[fn]),
   "put":op("Change the configuration: a new version with the same artifact (fields left out keep their value; in variables and secrets null removes an entry)","tenant",{**resp(201,"configured",ref("Configured")),**A401},[fn],jbody(ref("ConfigChange")))},
 "/v1/functions/{name}/logs":{"get":op("Log lines: the latest, or those after a cursor (after=id), of one invocation or outcome","tenant",{**resp(200,"lines",{"type":"array","items":obj}),**A401},[fn,*log_q])},
 "/v1/functions/{name}/logs/stream":{"get":op("Live tail of the log lines as server-sent events (id: cursor, data: the line); resumes after Last-Event-ID","tenant",{**resp(200,"event stream",{"type":"string"},"text/event-stream"),**A401,**errors(429)},[fn,*log_q])},
 "/v1/functions/{name}/invocations":{"get":op("Recent invocation records","tenant",{**resp(200,"records",{"type":"array","items":obj}),**A401},[fn,p("limit",schema={"type":"integer","minimum":0})])},
 "/v1/functions/{name}/invocations/{id}":{"get":op("One invocation record with the lines it logged","tenant",{**resp(200,"record",obj),**A401},[fn,p("id","path",desc="the invocation id (x-geyser-invocation)")])},
 "/v1/functions/{name}/async":{
   "get":op("The function's asynchronous settings (attempts, maximum age, destinations), defaults filled in","tenant",{**resp(200,"settings",ref("AsyncSettings")),**A401},[fn]),
   "put":op("Replace the function's asynchronous settings (a field left out: the node's default); a destination topic outside the tenant's namespace is 403","tenant",{**resp(200,"settings",ref("AsyncSettings")),**A401},[fn],jbody(ref("AsyncSettings")))},
 "/v1/invocations/{id}":{"get":op("An asynchronous invocation: status (queued, running, succeeded, failed, expired), attempts, outcome, the guest's status and answer","tenant",{**resp(200,"invocation",obj),**A401},[p("id","path",desc="the x-geyser-invocation of the 202")])},
 "/v1/functions/{name}/events":{"post":op("Deliver an event to an event function (body: payload)","tenant",{**resp(200,"delivered",obj),**errors(400,401,403,404,429,503)},[fn,p("topic"),p("key"),p("at",desc="a version number or an alias (default live)")],{"required":False,"content":{"application/octet-stream":{"schema":{"type":"string","format":"binary"}}}})},
 "/v1/functions/{name}/ticks":{"post":op("Deliver a tick to a scheduled function","tenant",{**resp(200,"delivered",obj),**errors(400,401,403,404,429,503)},[fn,p("schedule"),p("scheduled_time"),p("at",desc="a version number or an alias (default live)")])},
 "/v1/functions/{name}/triggers/cron":{
   "get":op("List cron triggers","tenant",{**resp(200,"schedules",{"type":"array","items":obj}),**A401},[fn]),
   "put":op("Create or replace a cron trigger","tenant",{**resp(200,"schedule",obj),**resp(201,"schedule",obj),**A401},[fn],jbody({"type":"object","additionalProperties":False,"required":["name","expression"],"properties":{"name":{"type":"string"},"expression":{"type":"string"},"timezone":{"type":"string"},"payload":{},"missed":{"type":"string","enum":["once","skip"]},"overlap":{"type":"string","enum":["allow","skip"]},"alias":{"type":"string","description":"the alias whose version each tick runs (default live)"},"max_attempts":{"type":"integer","minimum":1,"maximum":10,"description":"attempts of a failed or refused tick (default 1)"}}}))},
 "/v1/functions/{name}/triggers/cron/{schedule}":{"delete":op("Delete a cron trigger","tenant",{**resp(204,"deleted"),**A401},[fn,p("schedule","path")])},
 "/v1/functions/{name}/triggers/cron/{schedule}/runs":{"get":op("Recent runs of a cron trigger","tenant",{**resp(200,"runs",{"type":"array","items":obj}),**A401},[fn,p("schedule","path")])},
 "/v1/functions/{name}/triggers/cron/{schedule}/run":{"post":op("Run a cron trigger now","tenant",{**resp(200,"run",obj),**errors(400,401,403,404,429,503)},[fn,p("schedule","path")],jbody({"type":"object","additionalProperties":False,"properties":{"scheduled_time":{"type":"string"}}},False))},
 "/v1/functions/{name}/triggers/kafka":{
   "get":op("List Kafka topic bindings","tenant",{**resp(200,"bindings",{"type":"array","items":obj}),**A401},[fn]),
   "put":op("Bind a Kafka topic","tenant",{**resp(200,"binding",obj),**resp(201,"binding",obj),**errors(400,401,403,404,503)},[fn],jbody({"type":"object","additionalProperties":False,"required":["topic"],"properties":{"topic":{"type":"string"},"start":{"type":"string","enum":["earliest","latest"]},"max_attempts":{"type":"integer","minimum":1},"backoff_ms":{"type":"integer","minimum":0},"dead_letter_topic":{"type":"string"},"ordered":{"type":"boolean"},"alias":{"type":"string","description":"the alias whose version each record runs (default live)"}}}))},
 "/v1/functions/{name}/triggers/kafka/{topic}":{"delete":op("Unbind a Kafka topic","tenant",{**resp(204,"deleted"),**A401},[fn,p("topic","path")])},
 "/v1/metrics":{"get":op("Prometheus metrics of one tenant (only series with its tenant label)","tenant-or-admin",{**resp(200,"text exposition",{"type":"string"},"text/plain"),**A401},[tenant_q])},
 "/v1/usage":{"get":op("Usage per function","tenant-or-admin",{**resp(200,"usage",obj),**A401},[tenant_q])},
 "/v1/usage/series":{"get":op("Hourly usage series","tenant-or-admin",{**resp(200,"series",obj),**A401},[tenant_q,p("hours",schema={"type":"integer","minimum":1})])},
 "/v1/billing/statement":{"get":op("Monthly statement (JSON or CSV)","tenant-or-admin",{**resp(200,"statement",obj),**A401},[tenant_q,p("month",desc="YYYY-MM"),p("format",schema={"type":"string","enum":["json","csv"]})])},
 "/v1/billing/budget":{
   "get":op("The tenant's budget","tenant-or-admin",{**resp(200,"budget",obj),**A401},[tenant_q]),
   "put":op("Set the monthly budget","tenant-or-admin",{**resp(200,"budget",obj),**A401},[tenant_q],jbody({"type":"object","additionalProperties":False,"required":["monthly_usd"],"properties":{"monthly_usd":{"type":"number","minimum":0},"policy":{"type":"string","enum":["refuse","warn"]}}})),
   "delete":op("Remove the budget","tenant-or-admin",{**resp(204,"removed"),**A401},[tenant_q])},
}
q_props={k:{"type":["integer","null"],"minimum":0} for k in ["max_functions","max_artifact_bytes","max_memory_mb","max_concurrency","max_function_concurrency","rate_burst","max_kv_keys","max_async_queued","node_memory_percent","max_cpu_limit_ms","max_log_bytes"]}
q_props["rate_per_second"]={"type":["number","null"],"minimum":0}
schemas={
 "Destination":{"oneOf":[{"type":"object","required":["topic"],"properties":{"topic":{"type":"string"}},"additionalProperties":False},{"type":"object","required":["function"],"properties":{"function":{"type":"string"}},"additionalProperties":False}]},
 "AsyncSettings":{"type":"object","additionalProperties":False,"properties":{"max_attempts":{"type":"integer","minimum":1,"maximum":10},"max_age_ms":{"type":"integer","minimum":1,"maximum":86400000},"on_failure":ref("Destination"),"on_success":ref("Destination")}},
 "Error":{"type":"object","required":["error"],"properties":{"error":{"type":"object","required":["code","message"],"properties":{"code":{"type":"string"},"message":{"type":"string"}}}}},
 "Tenant":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"disabled":{"type":"boolean"}}},
 "CreatedTenant":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"api_key":{"type":"string"}}},
 "Key":{"type":"object","properties":{"id":{"type":"integer"},"prefix":{"type":"string"},"name":{"type":"string"},"created_at_ms":{"type":"integer"},"revoked_at_ms":{"type":["integer","null"]},"revoked":{"type":"boolean"}}},
 "CreatedKey":{"allOf":[ref("Key"),{"type":"object","properties":{"api_key":{"type":"string"}}}]},
 "QuotaOverrides":{"type":"object","additionalProperties":False,"properties":q_props},
 "QuotaReport":{"type":"object","properties":{"tenant":{"type":"string"},"quotas":obj,"overrides":ref("QuotaOverrides"),"used":obj}},
 "ConfigChange":{"type":"object","additionalProperties":False,"properties":{
   "variables":{"type":"object","propertyNames":{"pattern":"^[A-Z_][A-Z0-9_]{0,63}$"},"additionalProperties":{"type":["string","null"],"maxLength":4096}},
   "secrets":{"type":"object","propertyNames":{"pattern":"^[A-Z_][A-Z0-9_]{0,63}$"},"additionalProperties":{"type":["string","null"],"maxLength":4096}},
   "allowed_outbound_hosts":{"type":"array","maxItems":32,"items":{"type":"string","description":"scheme://host[:port], host may start with *."}}}},
 "Config":{"type":"object","properties":{"variables":{"type":"object","additionalProperties":{"type":"string"}},"secrets":{"type":"array","items":{"type":"string"}},"allowed_outbound_hosts":{"type":"array","items":{"type":"string"}}}},
 "Configured":{"type":"object","properties":{"name":{"type":"string"},"version":{"type":"integer"},"config":ref("Config")}},
 "Readiness":{"type":"object","properties":{"ready":{"type":"boolean"},"draining":{"type":"boolean"},"checks":{"type":"object","properties":{"database":{"type":"string"},"artifact_cache":{"type":"string"},"kafka":{"type":"string"}}}}},
 "Function":obj,"Deployed":{"type":"object","properties":{"name":{"type":"string"},"version":{"type":"integer"},"sha256":{"type":"string"},"kind":{"type":"string"},"live":{"type":"boolean"},"url":{"type":"string"}}},
 "Canary":{"type":"object","additionalProperties":False,"required":["version","weight"],"properties":{
   "version":{"type":"integer","minimum":1},"weight":{"type":"number","minimum":0,"maximum":1},
   "sticky":{"type":"string","description":"request header whose value's hash picks the version"},
   "rollback_on":{"type":"object","additionalProperties":False,"properties":{"error_rate":{"type":"number","minimum":0,"maximum":1},"p99_ms":{"type":"integer","minimum":1},"min_requests":{"type":"integer","minimum":1,"default":20}}}}},
 "AliasSpec":{"type":"object","additionalProperties":False,"required":["version"],"properties":{"version":{"type":"integer","minimum":1},"canary":ref("Canary"),"auto_promote":{"type":"boolean","description":"live only; left out keeps its value"}}},
 "Alias":{"type":"object","properties":{"alias":{"type":"string"},"version":{"type":"integer"},"canary":ref("Canary"),"auto_promote":{"type":"boolean"},"updated_at_ms":{"type":"integer"}}},
 "AliasList":{"type":"object","properties":{"function":{"type":"string"},"aliases":{"type":"array","items":ref("Alias")}}},
}
doc={"openapi":"3.1.0","info":{"title":"Geyser management API","version":"1","description":"Tenants, keys, quotas, functions, triggers, usage and billing of a Geyser node. Functions themselves are invoked at /fn/{tenant}/{function}/{path}. Keys go in `Authorization: Bearer KEY`; x-geyser-access says who may call each operation."},
 "paths":paths,"components":{"securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}},"schemas":schemas}}
open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime", "http", "src", "openapi.json"),"w").write(json.dumps(doc,indent=1)+"\n")
