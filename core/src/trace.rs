//! W3C trace context (`traceparent`): taken from an incoming request or record, or started,
//! and passed on to what an invocation publishes.

use rand::RngCore;

/// A `traceparent` value: version 00, trace id, parent (span) id, flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
    /// The caller's span this one continues, when it arrived with a valid `traceparent`.
    parent_span_id: Option<[u8; 8]>,
}

impl TraceContext {
    /// A new trace, sampled.
    pub fn start() -> TraceContext {
        let mut rng = rand::thread_rng();
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        while trace_id == [0; 16] {
            rng.fill_bytes(&mut trace_id);
        }
        while span_id == [0; 8] {
            rng.fill_bytes(&mut span_id);
        }
        TraceContext {
            trace_id,
            span_id,
            flags: 1,
            parent_span_id: None,
        }
    }

    /// Parses `00-<32 hex>-<16 hex>-<2 hex>`; `None` for anything else (then a trace starts).
    pub fn parse(header: &str) -> Option<TraceContext> {
        let mut parts = header.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() {
            return None;
        }
        let mut trace_id = [0u8; 16];
        let mut span_id = [0u8; 8];
        let mut flag = [0u8; 1];
        hex::decode_to_slice(trace, &mut trace_id).ok()?;
        hex::decode_to_slice(span, &mut span_id).ok()?;
        hex::decode_to_slice(flags, &mut flag).ok()?;
        if trace_id == [0; 16] || span_id == [0; 8] || trace.bytes().any(|b| b.is_ascii_uppercase())
        {
            return None;
        }
        Some(TraceContext {
            trace_id,
            span_id,
            flags: flag[0],
            parent_span_id: None,
        })
    }

    /// Continues `parent` (or starts a trace) with a new span for this invocation.
    pub fn child_of(parent: Option<&str>) -> TraceContext {
        match parent.and_then(TraceContext::parse) {
            Some(parent) => TraceContext {
                span_id: TraceContext::start().span_id,
                parent_span_id: Some(parent.span_id),
                ..parent
            },
            None => TraceContext::start(),
        }
    }

    pub fn trace_id(&self) -> String {
        hex::encode(self.trace_id)
    }

    pub fn trace_id_bytes(&self) -> [u8; 16] {
        self.trace_id
    }

    pub fn span_id_bytes(&self) -> [u8; 8] {
        self.span_id
    }

    pub fn parent_span_id_bytes(&self) -> Option<[u8; 8]> {
        self.parent_span_id
    }

    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The header value.
    pub fn header(&self) -> String {
        format!(
            "00-{}-{}-{:02x}",
            hex::encode(self.trace_id),
            hex::encode(self.span_id),
            self.flags
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_continues_the_trace() {
        let header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceContext::parse(header).unwrap();
        assert_eq!(parsed.header(), header);
        let child = TraceContext::child_of(Some(header));
        assert_eq!(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(child.header(), header);
    }

    #[test]
    fn rejects_malformed_values() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert!(TraceContext::parse(bad).is_none(), "{bad}");
        }
        let started = TraceContext::child_of(Some("garbage"));
        assert_eq!(TraceContext::parse(&started.header()), Some(started));
    }
}
