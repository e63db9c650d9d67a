//! The glue between `wasi:http/incoming-handler` and [`crate::http`]: reads the request whole,
//! runs the user's handler, writes the response.

use crate::http::{Request, Response, Result};
use std::io::{Read as _, Write as _};
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

fn method_name(method: &Method) -> String {
    match method {
        Method::Get => "GET".into(),
        Method::Head => "HEAD".into(),
        Method::Post => "POST".into(),
        Method::Put => "PUT".into(),
        Method::Delete => "DELETE".into(),
        Method::Connect => "CONNECT".into(),
        Method::Options => "OPTIONS".into(),
        Method::Trace => "TRACE".into(),
        Method::Patch => "PATCH".into(),
        Method::Other(other) => other.to_ascii_uppercase(),
    }
}

fn read_request(incoming: &IncomingRequest) -> Request {
    let path = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let mut request = Request::new(&method_name(&incoming.method()), &path);
    request.headers = incoming.headers().entries();
    if let Ok(body) = incoming.consume() {
        if let Ok(mut stream) = body.stream() {
            let _ = stream.read_to_end(&mut request.body);
        }
        IncomingBody::finish(body);
    }
    request
}

fn write_response(response_out: ResponseOutparam, response: Response) {
    let headers = Fields::new();
    for (name, value) in &response.headers {
        let _ = headers.append(name, value);
    }
    let outgoing = OutgoingResponse::new(headers);
    let _ = outgoing.set_status_code(response.status);
    let Ok(body) = outgoing.body() else { return };
    ResponseOutparam::set(response_out, Ok(outgoing));
    if let Ok(mut stream) = body.write() {
        // `blocking-write-and-flush` takes at most 4096 bytes per call.
        for chunk in response.body.chunks(4096) {
            if stream.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = stream.flush();
    }
    let _ = OutgoingBody::finish(body, None);
}

/// Called by the code `#[geyser_sdk::http]` generates.
pub fn serve_http(
    incoming: IncomingRequest,
    response_out: ResponseOutparam,
    handler: fn(Request) -> Result,
) {
    let request = read_request(&incoming);
    let response = handler(request).unwrap_or_else(|err| err.into_response());
    write_response(response_out, response);
}
