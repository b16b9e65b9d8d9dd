//! W3C Trace Context: reading `traceparent` / `tracestate` from a request,
//! minting ids, and formatting what goes on outbound requests.
//!
//! The header values come from whoever calls this host, so parsing is
//! strict (anything off-spec starts a new trace rather than continuing a
//! malformed one) and never panics.

use std::fmt;

use http::HeaderMap;
use http::header::HeaderName;
use rand::RngCore;

/// The `traceparent` header: version, trace id, parent span id, flags.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// The `tracestate` header: vendor-specific key/value pairs that travel with
/// `traceparent`.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Longest `tracestate` kept, in bytes. The spec asks propagators to carry
/// at least 512 bytes and lets them drop longer values; a caller cannot make
/// the host copy an unbounded string onto every outbound request.
const MAX_TRACESTATE_LEN: usize = 512;

/// Length of a version-00 `traceparent`:
/// `vv-` (3) + 32 hex + `-` + 16 hex + `-` + 2 hex.
const TRACEPARENT_LEN: usize = 55;

/// The `sampled` trace flag.
const FLAG_SAMPLED: u8 = 0x01;

/// Trace flags this host propagates: `sampled` and Trace Context Level 2's
/// `random`. Others are undefined and the spec says to zero them.
const KNOWN_FLAGS: u8 = 0x03;

/// The trace context of one request handled by this host.
///
/// `span_id` is *this host's* span for the request: it is what
/// [`traceparent`](Self::traceparent) sends downstream and what
/// [`Telemetry::start_span`](crate::Telemetry::start_span) exports, so
/// downstream spans hang off the span this host reports.
#[derive(Clone)]
pub struct TraceContext {
    /// The trace this request belongs to; never all zero.
    trace_id: [u8; 16],
    /// This host's span for the request; never all zero.
    span_id: [u8; 8],
    /// The caller's span, when the request arrived with a valid
    /// `traceparent`; `None` for a trace started here.
    parent_span_id: Option<[u8; 8]>,
    /// Trace flags, limited to [`KNOWN_FLAGS`].
    flags: u8,
    /// The caller's `tracestate`, passed through unchanged.
    tracestate: Option<String>,
}

impl TraceContext {
    /// Continue the caller's trace if `traceparent` is valid W3C, else start
    /// a new trace with random ids.
    ///
    /// Valid means: exactly one `traceparent` header; version `00` with a
    /// 32-lowercase-hex trace id that is not all zero, a 16-lowercase-hex
    /// parent id that is not all zero and 2 hex flags, nothing after. A
    /// future version (any but `ff`) is read by its first four fields, as
    /// the spec asks, and may carry more after a `-`.
    ///
    /// The span id is always new. `tracestate` (several header lines are
    /// joined with `,`) is kept only when the `traceparent` was valid and the
    /// value is visible ASCII of at most 512 bytes. A new trace is sampled.
    pub fn from_request_headers(headers: &HeaderMap) -> Self {
        let mut values = headers.get_all(&TRACEPARENT).iter();
        let parent = match (values.next(), values.next()) {
            (Some(value), None) => parse_traceparent(value.as_bytes()),
            // Missing, or repeated (ambiguous): start over.
            _ => None,
        };
        match parent {
            Some(parent) => Self {
                trace_id: parent.trace_id,
                span_id: random_nonzero(),
                parent_span_id: Some(parent.span_id),
                flags: parent.flags & KNOWN_FLAGS,
                tracestate: read_tracestate(headers),
            },
            None => Self::new_root(),
        }
    }

    /// A fresh root context (for work not started by a request): random
    /// trace and span ids, no parent, sampled.
    pub fn new_root() -> Self {
        Self {
            trace_id: random_nonzero(),
            span_id: random_nonzero(),
            parent_span_id: None,
            flags: FLAG_SAMPLED,
            tracestate: None,
        }
    }

    /// `00-<trace id>-<this span id>-<flags>`: the value to send on outbound
    /// requests.
    pub fn traceparent(&self) -> String {
        let mut out = String::with_capacity(TRACEPARENT_LEN);
        out.push_str("00-");
        push_hex(&mut out, &self.trace_id);
        out.push('-');
        push_hex(&mut out, &self.span_id);
        out.push('-');
        push_hex(&mut out, &[self.flags]);
        out
    }

    /// The caller's `tracestate`, to send unchanged alongside
    /// [`traceparent`](Self::traceparent); `None` when there was none or
    /// it was dropped.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// This host's span id as 16 lowercase hex digits.
    pub fn span_id_hex(&self) -> String {
        hex(&self.span_id)
    }

    /// The caller's span id as 16 lowercase hex digits, if the trace was
    /// continued from a request.
    pub fn parent_span_id_hex(&self) -> Option<String> {
        self.parent_span_id.as_ref().map(|id| hex(id))
    }

    /// Whether the trace is sampled: the caller's decision when continued,
    /// always for a trace started here. Only sampled requests are exported.
    pub fn sampled(&self) -> bool {
        self.flags & FLAG_SAMPLED != 0
    }

    pub(crate) fn trace_id(&self) -> [u8; 16] {
        self.trace_id
    }

    pub(crate) fn span_id(&self) -> [u8; 8] {
        self.span_id
    }

    pub(crate) fn parent_span_id(&self) -> Option<[u8; 8]> {
        self.parent_span_id
    }

    pub(crate) fn flags(&self) -> u8 {
        self.flags
    }
}

/// Hex ids rather than byte arrays, so log lines can be pasted into a
/// tracing UI.
impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TraceContext")
            .field("trace_id", &self.trace_id_hex())
            .field("span_id", &self.span_id_hex())
            .field("parent_span_id", &self.parent_span_id_hex())
            .field("flags", &format_args!("{:02x}", self.flags))
            .field("tracestate", &self.tracestate)
            .finish()
    }
}

/// The fields of a valid incoming `traceparent`.
struct Parent {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    flags: u8,
}

/// Parses a `traceparent` value, or `None` if it is not valid.
fn parse_traceparent(value: &[u8]) -> Option<Parent> {
    let value = value.trim_ascii();
    if value.len() < TRACEPARENT_LEN {
        return None;
    }
    let [version] = decode_hex::<1>(&value[0..2])?;
    match version {
        0xff => return None,
        // Version 00 is exactly four fields.
        0x00 if value.len() != TRACEPARENT_LEN => return None,
        // A later version may append fields, each after a '-'.
        _ if value.len() > TRACEPARENT_LEN && value[TRACEPARENT_LEN] != b'-' => return None,
        _ => {}
    }
    if value[2] != b'-' || value[35] != b'-' || value[52] != b'-' {
        return None;
    }
    let trace_id = decode_hex::<16>(&value[3..35])?;
    let span_id = decode_hex::<8>(&value[36..52])?;
    let [flags] = decode_hex::<1>(&value[53..55])?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        flags,
    })
}

/// All `tracestate` lines joined with `,`, or `None` if absent, empty, not
/// visible ASCII, or longer than [`MAX_TRACESTATE_LEN`].
fn read_tracestate(headers: &HeaderMap) -> Option<String> {
    let mut joined = String::new();
    for value in headers.get_all(&TRACESTATE) {
        let value = value.to_str().ok()?.trim();
        if value.is_empty() {
            continue;
        }
        if !joined.is_empty() {
            joined.push(',');
        }
        joined.push_str(value);
        if joined.len() > MAX_TRACESTATE_LEN {
            return None;
        }
    }
    (!joined.is_empty()).then_some(joined)
}

/// `N` random bytes that are not all zero (all-zero ids are invalid).
fn random_nonzero<const N: usize>() -> [u8; N] {
    let mut rng = rand::rng();
    loop {
        let mut bytes = [0u8; N];
        rng.fill_bytes(&mut bytes);
        if bytes != [0u8; N] {
            return bytes;
        }
    }
}

/// Decodes exactly `2 * N` lowercase hex digits.
fn decode_hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

/// One lowercase hex digit; the spec forbids uppercase.
fn nibble(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT_ID: &str = "00f067aa0ba902b7";
    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    fn headers(pairs: &[(&HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append((*name).clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn from_traceparent(value: &str) -> TraceContext {
        TraceContext::from_request_headers(&headers(&[(&TRACEPARENT, value)]))
    }

    /// The context started a new trace rather than continuing `TRACE_ID`.
    fn assert_new_trace(ctx: &TraceContext) {
        assert_ne!(ctx.trace_id_hex(), TRACE_ID);
        assert_eq!(ctx.parent_span_id_hex(), None);
        assert!(ctx.sampled(), "a trace started here is sampled");
        assert_eq!(ctx.tracestate(), None);
    }

    #[test]
    fn valid_traceparent_continues_the_trace() {
        let ctx = from_traceparent(VALID);
        assert_eq!(ctx.trace_id_hex(), TRACE_ID);
        assert_eq!(ctx.parent_span_id_hex().as_deref(), Some(PARENT_ID));
        assert!(ctx.sampled());
    }

    #[test]
    fn continued_trace_gets_a_new_span_id() {
        let ctx = from_traceparent(VALID);
        assert_ne!(ctx.span_id_hex(), PARENT_ID);
        assert_ne!(ctx.span_id(), [0; 8]);
        assert_ne!(
            from_traceparent(VALID).span_id_hex(),
            ctx.span_id_hex(),
            "each request gets its own span"
        );
    }

    #[test]
    fn unsampled_flag_is_kept() {
        let ctx = from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert_eq!(ctx.trace_id_hex(), TRACE_ID);
        assert!(!ctx.sampled());
        assert!(ctx.traceparent().ends_with("-00"));
    }

    #[test]
    fn undefined_flags_are_zeroed_when_propagated() {
        let ctx = from_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff");
        assert!(ctx.sampled());
        assert!(ctx.traceparent().ends_with("-03"));
    }

    #[test]
    fn surrounding_whitespace_is_tolerated() {
        let ctx = from_traceparent(&format!("  {VALID}\t"));
        assert_eq!(ctx.trace_id_hex(), TRACE_ID);
    }

    #[test]
    fn missing_traceparent_starts_a_new_trace() {
        let ctx = TraceContext::from_request_headers(&HeaderMap::new());
        assert_eq!(ctx.parent_span_id_hex(), None);
        assert!(ctx.sampled());
        assert_eq!(ctx.trace_id_hex().len(), 32);
        assert_ne!(ctx.trace_id(), [0; 16]);
        assert_ne!(ctx.span_id(), [0; 8]);
    }

    #[test]
    fn malformed_traceparents_start_a_new_trace() {
        let cases = [
            (
                "too short",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            ),
            ("too long for version 00", &format!("{VALID}-extra")),
            (
                "trace id too short",
                "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            ),
            (
                "uppercase trace id",
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            ),
            (
                "uppercase parent id",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",
            ),
            (
                "uppercase flags",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",
            ),
            (
                "all-zero trace id",
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            ),
            (
                "all-zero parent id",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            ),
            (
                "version ff",
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            (
                "non-hex version",
                "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            (
                "wrong separator",
                "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            (
                "non-hex in trace id",
                "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
            ),
            ("empty", ""),
        ];
        for (what, value) in cases {
            let ctx = from_traceparent(value);
            assert_ne!(ctx.trace_id_hex(), TRACE_ID, "{what}: {value:?}");
            assert_new_trace(&ctx);
        }
    }

    #[test]
    fn two_traceparent_headers_start_a_new_trace() {
        let ctx = TraceContext::from_request_headers(&headers(&[
            (&TRACEPARENT, VALID),
            (&TRACEPARENT, VALID),
        ]));
        assert_new_trace(&ctx);
    }

    #[test]
    fn future_version_is_read_by_its_first_four_fields() {
        let ctx = from_traceparent(&format!("cc{}-what-comes-next", &VALID[2..]));
        assert_eq!(ctx.trace_id_hex(), TRACE_ID);
        assert_eq!(ctx.parent_span_id_hex().as_deref(), Some(PARENT_ID));
        // ... and is propagated as the version this host speaks.
        assert!(ctx.traceparent().starts_with("00-"));

        let exact = from_traceparent(&format!("01{}", &VALID[2..]));
        assert_eq!(exact.trace_id_hex(), TRACE_ID);

        let glued = from_traceparent(&format!("01{}x", &VALID[2..]));
        assert_new_trace(&glued);
    }

    #[test]
    fn traceparent_has_the_w3c_shape() {
        let ctx = from_traceparent(VALID);
        let value = ctx.traceparent();
        assert_eq!(value.len(), 55);
        assert_eq!(
            value,
            format!("00-{TRACE_ID}-{}-01", ctx.span_id_hex()),
            "trace id continued, this host's span id, flags kept"
        );
    }

    #[test]
    fn traceparent_round_trips() {
        for ctx in [from_traceparent(VALID), TraceContext::new_root()] {
            let next = from_traceparent(&ctx.traceparent());
            assert_eq!(next.trace_id_hex(), ctx.trace_id_hex());
            assert_eq!(next.parent_span_id_hex(), Some(ctx.span_id_hex()));
            assert_eq!(next.sampled(), ctx.sampled());
        }
    }

    #[test]
    fn new_root_has_random_ids_and_no_parent() {
        let (a, b) = (TraceContext::new_root(), TraceContext::new_root());
        assert_ne!(a.trace_id_hex(), b.trace_id_hex());
        assert_ne!(a.span_id_hex(), b.span_id_hex());
        assert_eq!(a.parent_span_id_hex(), None);
        assert!(a.sampled());
        assert_eq!(a.tracestate(), None);
    }

    #[test]
    fn tracestate_is_kept_with_a_valid_traceparent() {
        let ctx = TraceContext::from_request_headers(&headers(&[
            (&TRACEPARENT, VALID),
            (&TRACESTATE, "congo=t61rcWkgMzE"),
            (&TRACESTATE, " rojo=00f067aa0ba902b7 "),
        ]));
        assert_eq!(
            ctx.tracestate(),
            Some("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7")
        );
    }

    #[test]
    fn tracestate_is_dropped_without_a_valid_traceparent() {
        let invalid = TraceContext::from_request_headers(&headers(&[
            (
                &TRACEPARENT,
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            ),
            (&TRACESTATE, "congo=t61rcWkgMzE"),
        ]));
        assert_eq!(invalid.tracestate(), None);

        let missing =
            TraceContext::from_request_headers(&headers(&[(&TRACESTATE, "congo=t61rcWkgMzE")]));
        assert_eq!(missing.tracestate(), None);
    }

    #[test]
    fn tracestate_over_512_bytes_is_dropped() {
        let at_limit = format!("k={}", "v".repeat(510));
        let ctx = TraceContext::from_request_headers(&headers(&[
            (&TRACEPARENT, VALID),
            (&TRACESTATE, &at_limit),
        ]));
        assert_eq!(ctx.tracestate(), Some(at_limit.as_str()));

        let over = format!("k={}", "v".repeat(511));
        let ctx = TraceContext::from_request_headers(&headers(&[
            (&TRACEPARENT, VALID),
            (&TRACESTATE, &over),
        ]));
        assert_eq!(ctx.tracestate(), None);
        assert_eq!(ctx.trace_id_hex(), TRACE_ID, "the trace is still continued");
    }

    #[test]
    fn debug_shows_hex_ids() {
        let ctx = from_traceparent(VALID);
        let debug = format!("{ctx:?}");
        assert!(debug.contains(TRACE_ID), "{debug}");
        assert!(debug.contains(PARENT_ID), "{debug}");
    }
}
