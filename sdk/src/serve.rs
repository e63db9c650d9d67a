//! The glue between `wasi:http/incoming-handler` and [`crate::http`]: reads the request whole,
//! runs the user's handler, writes the response. A body that cannot be read to its end (too
//! large for the host, the client went away) is answered with an error and the handler is not
//! called: it never sees a prefix that looks like a complete body.

use crate::http::{Error, Request, Response, Result};
use std::io::{Read as _, Write as _};
use wasi::http::types::{
    Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};
use wasi::io::streams::InputStream;

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

/// Reads `stream` to its end; an error means it stopped early.
fn read_all(stream: &mut InputStream, into: &mut Vec<u8>) -> std::result::Result<(), Error> {
    stream.read_to_end(into).map(|_| ()).map_err(|_| {
        // The host's detail is not the client's business (it may carry host internals).
        Error::new(
            400,
            "request body could not be read to its end (too large, or the client stopped sending)",
        )
    })
}

fn read_request(incoming: &IncomingRequest) -> std::result::Result<Request, Error> {
    let path = incoming.path_with_query().unwrap_or_else(|| "/".into());
    let mut request = Request::new(&method_name(&incoming.method()), &path);
    request.headers = incoming.headers().entries();
    let body = incoming
        .consume()
        .map_err(|()| Error::new(500, "request body was already taken"))?;
    let read = match body.stream() {
        Ok(mut stream) => {
            let read = read_all(&mut stream, &mut request.body);
            // The stream is a child of the body: it must go before the body is finished.
            drop(stream);
            read
        }
        Err(()) => Err(Error::new(500, "request body stream was already taken")),
    };
    IncomingBody::finish(body);
    read.map(|()| request)
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
    let response = match read_request(&incoming) {
        Ok(request) => handler(request).unwrap_or_else(|err| err.into_response()),
        Err(err) => err.into_response(),
    };
    write_response(response_out, response);
}
