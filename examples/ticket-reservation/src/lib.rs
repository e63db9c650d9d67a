//! Ticket reservation: the bursty workload Geyser is built for. An event goes on sale, most
//! seats go within the hour, and no seat may ever be sold twice.
//!
//! Seats are counted per tier with the kv store's atomic `increment`: a hold adds its quantity
//! and backs out if that overshoots the tier's seats, so concurrent buyers on any number of
//! nodes can never take more seats than exist. State transitions of a reservation (held →
//! confirmed / released / expired) use compare-and-swap, so each happens once and returns its
//! seats once.
//!
//! Payment: when the function's configuration sets `PAYMENTS_URL` (and the secret
//! `PAYMENTS_API_KEY`, and allows the host), confirming charges the reservation there first —
//! `POST {PAYMENTS_URL}/charges` with the reservation id as `Idempotency-Key`, bounded by
//! `PAYMENTS_TIMEOUT_MS` (default 2000). The hold becomes `paying` (one confirmer charges), then
//! `confirmed` on a 2xx, or `released` with its seats back on a refusal, an error or a timeout:
//! no seat is lost or sold twice. A confirm retried on a `paying` reservation charges again
//! under the same idempotency key, so a confirmer that died mid-payment is resumed, not doubled.
//!
//! kv layout (the tenant's namespace):
//! - `events/{id}`: the event (JSON)
//! - `events/{id}/taken/{tier}`: seats held or sold in a tier (counter)
//! - `events/{id}/holds/{reservation}`: index of unconfirmed holds, for expiry
//! - `events/{id}/swept-at`: when expired holds were last swept (ms)
//! - `reservations/{id}`: the reservation (JSON)
//! - `idempotency/{event}/{key}`: reservation made for an `Idempotency-Key`

use geyser_sdk::http::{Error, Params, Request, Response, Result, Router};
use geyser_sdk::{fetch, kv, now_ms, unique_id};
use serde::{Deserialize, Serialize};

const DEFAULT_HOLD_SECONDS: u32 = 600;
const MAX_QUANTITY: u32 = 10;
/// Expired holds are swept at most this often per event.
const SWEEP_INTERVAL_MS: i64 = 1000;

#[derive(Serialize, Deserialize, Clone)]
struct Tier {
    name: String,
    seats: u32,
    price_cents: u64,
}

#[derive(Serialize, Deserialize, Clone)]
struct Event {
    id: String,
    name: String,
    date: String,
    hold_seconds: u32,
    tiers: Vec<Tier>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEvent {
    name: String,
    date: String,
    tiers: Vec<Tier>,
    hold_seconds: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewReservation {
    tier: String,
    quantity: u32,
}

#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum Status {
    Held,
    /// Being charged: seats still taken, confirmed or released once the payment answers.
    Paying,
    Confirmed,
    Released,
    Expired,
}

#[derive(Serialize, Deserialize, Clone)]
struct Reservation {
    id: String,
    event: String,
    tier: String,
    quantity: u32,
    status: Status,
    expires_at_ms: i64,
}

fn event_key(id: &str) -> String {
    format!("events/{id}")
}

fn taken_key(event: &str, tier: &str) -> String {
    format!("events/{event}/taken/{tier}")
}

fn hold_key(event: &str, reservation: &str) -> String {
    format!("events/{event}/holds/{reservation}")
}

fn reservation_key(id: &str) -> String {
    format!("reservations/{id}")
}

/// Ids appear in keys; only hex-ish characters are accepted.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn load_event(id: &str) -> Result<Event> {
    if !valid_id(id) {
        return Err(Error::not_found("no such event"));
    }
    kv::get_json(&event_key(id))?.ok_or_else(|| Error::not_found("no such event"))
}

/// The reservation with its stored bytes (the expected value for compare-and-swap).
fn load_reservation(id: &str) -> Result<(Reservation, Vec<u8>)> {
    if !valid_id(id) {
        return Err(Error::not_found("no such reservation"));
    }
    let bytes =
        kv::get(&reservation_key(id))?.ok_or_else(|| Error::not_found("no such reservation"))?;
    let reservation = serde_json::from_slice(&bytes)
        .map_err(|e| Error::new(500, format!("corrupt reservation: {e}")))?;
    Ok((reservation, bytes))
}

fn reservation_json(r: &Reservation) -> serde_json::Value {
    serde_json::json!({
        "id": r.id,
        "event": r.event,
        "status": r.status,
        "tier": r.tier,
        "quantity": r.quantity,
        "expires_at": r.expires_at_ms,
    })
}

/// Moves a held reservation to `to`, once: only the caller whose compare-and-swap wins gives the
/// seats back (for `Released` / `Expired`). Returns the reservation as it now stands.
fn transition(reservation: &Reservation, stored: &[u8], to: Status) -> Result<Option<Reservation>> {
    let mut next = reservation.clone();
    next.status = to;
    let bytes = serde_json::to_vec(&next).map_err(|e| Error::new(500, e.to_string()))?;
    if !kv::compare_and_swap(&reservation_key(&reservation.id), Some(stored), &bytes)? {
        return Ok(None);
    }
    if matches!(to, Status::Released | Status::Expired) {
        kv::increment(
            &taken_key(&reservation.event, &reservation.tier),
            -i64::from(reservation.quantity),
        )?;
    }
    // A reservation being paid for keeps its hold index entry until it settles.
    if to != Status::Paying {
        kv::delete(&hold_key(&reservation.event, &reservation.id))?;
    }
    Ok(Some(next))
}

/// Expires the event's overdue holds, at most once per [`SWEEP_INTERVAL_MS`] (unless forced).
fn sweep_expired(event: &str, force: bool) -> Result<usize> {
    let now = now_ms();
    let swept_key = format!("events/{event}/swept-at");
    let last = kv::get(&swept_key)?;
    let last_ms = last
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0);
    if !force && now - last_ms < SWEEP_INTERVAL_MS {
        return Ok(0);
    }
    // One sweeper at a time per interval.
    if !kv::compare_and_swap(&swept_key, last.as_deref(), now.to_string().as_bytes())? {
        return Ok(0);
    }
    let mut expired = 0;
    for key in kv::list_keys(&format!("events/{event}/holds/"), 10_000)? {
        let Some(id) = key.rsplit('/').next() else {
            continue;
        };
        let Ok((reservation, stored)) = load_reservation(id) else {
            kv::delete(&key)?;
            continue;
        };
        if reservation.status == Status::Held && reservation.expires_at_ms <= now {
            if transition(&reservation, &stored, Status::Expired)?.is_some() {
                expired += 1;
            }
        } else if !matches!(reservation.status, Status::Held | Status::Paying) {
            kv::delete(&key)?;
        }
    }
    if expired > 0 {
        geyser_sdk::info!("expired {expired} holds of event {event}");
    }
    Ok(expired)
}

fn create_event(req: &Request, _: &Params) -> Result {
    if !req.is_owner() {
        return Err(Error::unauthorized(
            "creating events needs the tenant's API key",
        ));
    }
    let new: NewEvent = req.json()?;
    if new.name.trim().is_empty() || new.name.len() > 200 {
        return Err(Error::bad_request("name must be 1 to 200 characters"));
    }
    if new.tiers.is_empty() || new.tiers.len() > 20 {
        return Err(Error::bad_request("an event needs 1 to 20 tiers"));
    }
    for (i, tier) in new.tiers.iter().enumerate() {
        if !valid_id(&tier.name) {
            return Err(Error::bad_request(format!(
                "tier name {:?} must be letters, digits or '-'",
                tier.name
            )));
        }
        if tier.seats == 0 || tier.seats > 1_000_000 {
            return Err(Error::bad_request(format!(
                "tier {} needs 1 to 1000000 seats",
                tier.name
            )));
        }
        if new.tiers[..i].iter().any(|t| t.name == tier.name) {
            return Err(Error::bad_request(format!(
                "tier {} appears twice",
                tier.name
            )));
        }
    }
    let hold_seconds = new.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS);
    if hold_seconds == 0 || hold_seconds > 86_400 {
        return Err(Error::bad_request("hold_seconds must be 1 to 86400"));
    }
    let id = unique_id()[..16].to_owned();
    let event = Event {
        id: id.clone(),
        name: new.name,
        date: new.date,
        hold_seconds,
        tiers: new.tiers,
    };
    kv::set_json(&event_key(&id), &event)?;
    geyser_sdk::info!("event {id} created with {} tiers", event.tiers.len());
    Ok(Response::json(201, &serde_json::json!({ "id": id })))
}

fn taken(event: &str, tier: &str) -> Result<i64> {
    Ok(kv::increment(&taken_key(event, tier), 0)?)
}

fn show_event(_: &Request, params: &Params) -> Result {
    let event = load_event(params.get("id").unwrap_or(""))?;
    sweep_expired(&event.id, false)?;
    let mut tiers = Vec::new();
    for tier in &event.tiers {
        let available = (i64::from(tier.seats) - taken(&event.id, &tier.name)?).max(0);
        tiers.push(serde_json::json!({
            "name": tier.name,
            "seats": tier.seats,
            "available": available,
            "price_cents": tier.price_cents,
        }));
    }
    Ok(Response::json(
        200,
        &serde_json::json!({ "id": event.id, "name": event.name, "date": event.date, "tiers": tiers }),
    ))
}

/// Takes `quantity` seats of `tier` if they are free; on overshoot gives them back.
fn try_hold(event: &Event, tier: &Tier, quantity: u32) -> Result<std::result::Result<(), i64>> {
    let key = taken_key(&event.id, &tier.name);
    let after = kv::increment(&key, i64::from(quantity))?;
    if after <= i64::from(tier.seats) {
        return Ok(Ok(()));
    }
    let before = kv::increment(&key, -i64::from(quantity))?;
    Ok(Err((i64::from(tier.seats) - before).max(0)))
}

fn reserve(req: &Request, params: &Params) -> Result {
    let event = load_event(params.get("id").unwrap_or(""))?;
    let new: NewReservation = req.json()?;
    let tier = event
        .tiers
        .iter()
        .find(|t| t.name == new.tier)
        .ok_or_else(|| Error::bad_request(format!("no tier {:?}", new.tier)))?;
    if new.quantity == 0 || new.quantity > MAX_QUANTITY {
        return Err(Error::bad_request(format!(
            "quantity must be 1 to {MAX_QUANTITY}"
        )));
    }
    let id = unique_id();

    // A retried request with the same Idempotency-Key gets the same reservation.
    let idempotency_key = match req.header("idempotency-key") {
        Some(k) if !k.is_empty() && k.len() <= 128 => {
            Some(format!("idempotency/{}/{}", event.id, k))
        }
        Some(_) => {
            return Err(Error::bad_request(
                "Idempotency-Key must be 1 to 128 characters",
            ));
        }
        None => None,
    };
    if let Some(key) = &idempotency_key
        && !kv::compare_and_swap(key, None, id.as_bytes())?
    {
        let existing = kv::get(key)?.unwrap_or_default();
        let existing = String::from_utf8_lossy(&existing).into_owned();
        return match load_reservation(&existing) {
            Ok((reservation, _)) => Ok(Response::json(201, &reservation_json(&reservation))),
            Err(_) => Err(Error::conflict(
                "a request with this Idempotency-Key is still in progress",
            )),
        };
    }

    let mut held = try_hold(&event, tier, new.quantity)?;
    if held.is_err() && sweep_expired(&event.id, true)? > 0 {
        held = try_hold(&event, tier, new.quantity)?;
    }
    if let Err(available) = held {
        if let Some(key) = &idempotency_key {
            kv::delete(key)?;
        }
        return Err(Error::conflict(format!("not enough {} seats left", tier.name)).with_details(
            serde_json::json!({ "tier": tier.name, "available": available, "requested": new.quantity }),
        ));
    }

    let reservation = Reservation {
        id: id.clone(),
        event: event.id.clone(),
        tier: tier.name.clone(),
        quantity: new.quantity,
        status: Status::Held,
        expires_at_ms: now_ms() + i64::from(event.hold_seconds) * 1000,
    };
    kv::set(
        &hold_key(&event.id, &id),
        reservation.expires_at_ms.to_string().as_bytes(),
    )?;
    kv::set_json(&reservation_key(&id), &reservation)?;
    Ok(Response::json(201, &reservation_json(&reservation)))
}

/// Moves a held (or paid-for) reservation to confirmed: 200 with it, or 409 if another request
/// changed it first.
fn confirm_now(reservation: &Reservation, stored: &[u8]) -> Result {
    match transition(reservation, stored, Status::Confirmed)? {
        Some(confirmed) => Ok(Response::json(200, &reservation_json(&confirmed))),
        None => Err(Error::conflict("the reservation changed meanwhile; retry")),
    }
}

/// The payments service the configuration names, if any.
struct Payments {
    url: String,
    key: Option<String>,
    timeout_ms: u64,
}

fn payments() -> Option<Payments> {
    let url = std::env::var("PAYMENTS_URL").ok()?;
    Some(Payments {
        url: url.trim_end_matches('/').to_owned(),
        key: std::env::var("PAYMENTS_API_KEY").ok(),
        timeout_ms: std::env::var("PAYMENTS_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(2000),
    })
}

/// Charges a `paying` reservation and settles it: confirmed on a 2xx, released (seats back)
/// on anything else.
fn charge_and_settle(reservation: &Reservation, stored: &[u8], payments: &Payments) -> Result {
    let mut request = fetch::Request::post(&format!("{}/charges", payments.url))
        .header("idempotency-key", &reservation.id)
        .json(&serde_json::json!({
            "reservation": reservation.id,
            "event": reservation.event,
            "tier": reservation.tier,
            "quantity": reservation.quantity,
        }))
        .timeout_ms(payments.timeout_ms);
    if let Some(key) = &payments.key {
        request = request.header("authorization", &format!("Bearer {key}"));
    }
    let failure = match request.send() {
        Ok(answer) if answer.status < 300 => {
            return confirm_now(reservation, stored);
        }
        Ok(answer) => Error::new(
            402,
            format!(
                "payment declined ({}); the hold was released",
                answer.status
            ),
        ),
        Err(err) => Error::new(502, format!("{err}; the hold was released")),
    };
    geyser_sdk::warn!("reservation {} not paid: {failure}", reservation.id);
    transition(reservation, stored, Status::Released)?;
    Err(failure)
}

fn confirm(_: &Request, params: &Params) -> Result {
    let (reservation, stored) = load_reservation(params.get("id").unwrap_or(""))?;
    match reservation.status {
        Status::Confirmed => Ok(Response::json(200, &reservation_json(&reservation))),
        Status::Held if reservation.expires_at_ms <= now_ms() => {
            transition(&reservation, &stored, Status::Expired)?;
            Err(Error::new(410, "the hold expired; its seats were released"))
        }
        Status::Held => match payments() {
            None => confirm_now(&reservation, &stored),
            Some(payments) => {
                let Some(paying) = transition(&reservation, &stored, Status::Paying)? else {
                    return Err(Error::conflict("the reservation changed meanwhile; retry"));
                };
                let stored =
                    serde_json::to_vec(&paying).map_err(|e| Error::new(500, e.to_string()))?;
                charge_and_settle(&paying, &stored, &payments)
            }
        },
        // A confirm that did not finish: charge again under the same idempotency key.
        Status::Paying => match payments() {
            Some(payments) => charge_and_settle(&reservation, &stored, &payments),
            None => confirm_now(&reservation, &stored),
        },
        Status::Released | Status::Expired => {
            Err(Error::new(410, "the reservation is no longer held"))
        }
    }
}

fn release(_: &Request, params: &Params) -> Result {
    let (reservation, stored) = load_reservation(params.get("id").unwrap_or(""))?;
    match reservation.status {
        Status::Paying => Err(Error::conflict(
            "the reservation is being paid for; confirm it again to settle",
        )),
        Status::Held => match transition(&reservation, &stored, Status::Released)? {
            Some(released) => Ok(Response::json(200, &reservation_json(&released))),
            None => Err(Error::conflict("the reservation changed meanwhile; retry")),
        },
        Status::Released | Status::Expired => {
            Ok(Response::json(200, &reservation_json(&reservation)))
        }
        Status::Confirmed => Err(Error::conflict(
            "a confirmed reservation cannot be released",
        )),
    }
}

fn show_reservation(_: &Request, params: &Params) -> Result {
    let (reservation, _) = load_reservation(params.get("id").unwrap_or(""))?;
    Ok(Response::json(200, &reservation_json(&reservation)))
}

#[geyser_sdk::http]
fn handle(req: Request) -> Result {
    Router::new()
        .post("/events", create_event)
        .get("/events/:id", show_event)
        .post("/events/:id/reservations", reserve)
        .get("/reservations/:id", show_reservation)
        .post("/reservations/:id/confirm", confirm)
        .delete("/reservations/:id", release)
        .handle(&req)
}
