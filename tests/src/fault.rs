//! A fault-injecting HTTP proxy between a sink's SDK client and moto: throttling in each
//! service's own error format, 5xx, connection resets, slow responses and full unavailability.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The service's throttling error (HTTP 400 ThrottlingException / Throttling).
    Throttle,
    /// HTTP 503.
    ServerError,
    /// The connection is closed after the request is read, with no response.
    Reset,
    /// The response is delayed by this long.
    Slow(Duration),
    /// Connections are closed as soon as they are accepted.
    Down,
}

/// Which wire protocol the proxied service speaks (for its error bodies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// awsJson1.1 (CloudWatch Logs).
    Json,
    /// awsQuery (SNS).
    Query,
}

#[derive(Default)]
struct State {
    /// Remaining requests to fault.
    remaining: usize,
    fault: Option<Fault>,
    faulted: usize,
    forwarded: usize,
}

/// The proxy; it runs until the test process ends.
pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    state: Arc<Mutex<State>>,
}

impl FaultProxy {
    /// Starts a proxy in front of `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str, protocol: Protocol) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let state = Arc::new(Mutex::new(State::default()));
        let s = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, up) = (s.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, protocol, &s);
                });
            }
        });
        FaultProxy { endpoint, state }
    }

    /// Faults the next `requests` requests (connections, for `Down`).
    pub fn inject(&self, fault: Fault, requests: usize) {
        let mut s = self.state.lock().unwrap();
        s.fault = Some(fault);
        s.remaining = requests;
    }

    /// (requests faulted, requests forwarded) so far.
    pub fn counts(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap();
        (s.faulted, s.forwarded)
    }
}

fn take_fault(state: &Mutex<State>) -> Option<Fault> {
    let mut s = state.lock().unwrap();
    if s.remaining == 0 {
        return None;
    }
    s.remaining -= 1;
    s.faulted += 1;
    s.fault
}

fn serve(client: TcpStream, upstream: &str, protocol: Protocol, state: &Mutex<State>) -> std::io::Result<()> {
    if state.lock().unwrap().fault == Some(Fault::Down) && take_fault_if(state, Fault::Down) {
        return Ok(()); // dropped: the client sees a reset
    }
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    loop {
        let Some((head, body)) = read_message(&mut reader)? else { return Ok(()) };
        match take_fault(state) {
            Some(Fault::Reset) | Some(Fault::Down) => return Ok(()),
            Some(Fault::Throttle) => {
                let (status, body, etype) = match protocol {
                    Protocol::Json => (
                        "400 Bad Request",
                        r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
                        "ThrottlingException",
                    ),
                    Protocol::Query => ("400 Bad Request", query_error("Throttling", "Rate exceeded"), "Throttling"),
                };
                respond(&mut client, status, &body, etype, protocol)?;
                continue;
            }
            Some(Fault::ServerError) => {
                let body = match protocol {
                    Protocol::Json => r#"{"__type":"ServiceUnavailableException","message":"try again"}"#.to_owned(),
                    Protocol::Query => query_error("ServiceUnavailable", "try again"),
                };
                respond(&mut client, "503 Service Unavailable", &body, "ServiceUnavailableException", protocol)?;
                continue;
            }
            Some(Fault::Slow(d)) => std::thread::sleep(d),
            None => {}
        }
        state.lock().unwrap().forwarded += 1;
        let response = forward(upstream, &head, &body)?;
        client.write_all(&response)?;
    }
}

fn take_fault_if(state: &Mutex<State>, fault: Fault) -> bool {
    let is = state.lock().unwrap().fault == Some(fault);
    is && take_fault(state).is_some()
}

pub(crate) fn query_error(code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>fault</RequestId></ErrorResponse>"#
    )
}

pub(crate) fn respond(
    client: &mut TcpStream,
    status: &str,
    body: &str,
    error_type: &str,
    protocol: Protocol,
) -> std::io::Result<()> {
    let ctype = if protocol == Protocol::Json { "application/x-amz-json-1.1" } else { "text/xml" };
    write!(
        client,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nx-amzn-ErrorType: {error_type}\r\nx-amzn-RequestId: fault\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Reads one HTTP/1.1 message (head lines, body by Content-Length); `None` at EOF.
pub(crate) fn read_message(reader: &mut impl BufRead) -> std::io::Result<Option<(Vec<String>, Vec<u8>)>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line == "\r\n" {
            break;
        }
        head.push(line.trim_end().to_owned());
    }
    let len = head
        .iter()
        .find_map(|h| {
            h.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

/// Sends the request upstream on a fresh connection and returns the response re-framed for a
/// kept-alive client connection.
pub(crate) fn forward(upstream: &str, head: &[String], body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = String::new();
    for h in head {
        if !h.to_ascii_lowercase().starts_with("connection:") {
            req.push_str(h);
            req.push_str("\r\n");
        }
    }
    req.push_str("Connection: close\r\n\r\n");
    up.write_all(req.as_bytes())?;
    up.write_all(body)?;
    let mut reader = BufReader::new(up);
    let mut status = String::new();
    reader.read_line(&mut status)?;
    let mut headers = Vec::new();
    let mut len = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse::<usize>().ok();
        }
        if !lower.starts_with("connection:")
            && !lower.starts_with("content-length:")
            && !lower.starts_with("transfer-encoding:")
        {
            headers.push(line);
        }
    }
    let mut body = Vec::new();
    match len {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body)?;
        }
        None => {
            reader.read_to_end(&mut body)?;
        }
    }
    let mut out = status.into_bytes();
    for h in headers {
        out.extend_from_slice(h.as_bytes());
    }
    out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}
