//! Ad reports, HTTP: `GET /reports/{advertiser}/{yyyy-mm}` as JSON (or CSV with `?format=csv`
//! or `Accept: text/csv`); `POST /reports/{advertiser}/{yyyy-mm}` (tenant key only) builds it now.

use example_ad_reports_model::{Report, build_report, report_key, to_csv, valid_id, valid_month};
use geyser_sdk::http::{Error, Params, Request, Response, Result, Router};
use geyser_sdk::kv;

fn target(params: &Params) -> Result<(String, String)> {
    let advertiser = params.get("advertiser").unwrap_or_default();
    let month = params.get("month").unwrap_or_default();
    if !valid_id(advertiser) || !valid_month(month) {
        return Err(Error::bad_request("use /reports/{advertiser}/{yyyy-mm}"));
    }
    Ok((advertiser.to_owned(), month.to_owned()))
}

fn respond(req: &Request, report: &Report, status: u16) -> Response {
    let csv = req.query_param("format").as_deref() == Some("csv")
        || req.header("accept").is_some_and(|a| a.contains("text/csv"));
    if csv {
        Response::new(status)
            .with_header("content-type", "text/csv; charset=utf-8")
            .with_body(to_csv(report))
    } else {
        Response::json(status, report)
    }
}

fn show(req: &Request, params: &Params) -> Result {
    let (advertiser, month) = target(params)?;
    let report: Report = kv::get_json(&report_key(&advertiser, &month))?
        .ok_or_else(|| Error::not_found(format!("no report for {advertiser} in {month} yet")))?;
    Ok(respond(req, &report, 200))
}

fn generate(req: &Request, params: &Params) -> Result {
    if !req.is_owner() {
        return Err(Error::unauthorized(
            "generating reports needs the tenant's API key",
        ));
    }
    let (advertiser, month) = target(params)?;
    let report = build_report(&advertiser, &month)?;
    Ok(respond(req, &report, 201))
}

#[geyser_sdk::http]
fn handle(req: Request) -> Result {
    Router::new()
        .get("/reports/:advertiser/:month", show)
        .post("/reports/:advertiser/:month", generate)
        .handle(&req)
}
