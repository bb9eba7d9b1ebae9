//! A stand-in for Lambda's Invoke API, which moto serves only by running functions in Docker:
//! `POST /2015-03-31/functions/{name}/invocations` with the event runs a handler in process and
//! answers with its JSON as Lambda returns a function's result. It refuses what Lambda refuses
//! here: an unknown function (404 `ResourceNotFoundException`), a payload over the synchronous
//! 6 MB (413 `RequestEntityTooLargeException`), another invocation type than `RequestResponse`
//! (the caller waits for the partial batch response). A handler's `Err` is a function error:
//! 200 with `X-Amz-Function-Error: Unhandled`, as Lambda reports one.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use crate::fault::read_message;

/// Lambda's synchronous request limit, as its own error message states it (kept apart from the
/// client's constant on purpose: the stand-in is a second opinion).
const MAX_REQUEST_BYTES: usize = 6_291_456;

/// What the function does with an event: its JSON answer, or an error message.
pub type Handler = Arc<dyn Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync>;

/// The stand-in; it runs until the test process ends.
pub struct InvokeStandIn {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    calls: Arc<Mutex<Vec<String>>>,
}

impl InvokeStandIn {
    /// Serves one function named `function`.
    pub fn start(function: &str, handler: Handler) -> InvokeStandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let calls = Arc::new(Mutex::new(Vec::new()));
        let (c, name) = (calls.clone(), function.to_owned());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (c, name, h) = (c.clone(), name.clone(), handler.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &name, &h, &c);
                });
            }
        });
        InvokeStandIn { endpoint, calls }
    }

    /// One line per request: `function status`.
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

fn serve(conn: TcpStream, function: &str, handler: &Handler, calls: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut conn = conn;
    while let Some((head, body)) = read_message(&mut reader)? {
        let path = head.first().and_then(|l| l.split(' ').nth(1)).unwrap_or("").to_owned();
        let header = |name: &str| {
            head.iter().find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
            })
        };
        // The SDK puts the name or ARN, percent-encoded, in the path.
        let named = path
            .strip_prefix("/2015-03-31/functions/")
            .and_then(|p| p.split('/').next())
            .map(|n| n.replace("%3A", ":"))
            .unwrap_or_default();
        let known = named == function || named.ends_with(&format!(":function:{function}"));
        let (status, extra, answer) = if !known {
            error("404 Not Found", "ResourceNotFoundException", &format!("Function not found: {named}"))
        } else if header("x-amz-invocation-type").is_some_and(|t| t != "RequestResponse") {
            error("400 Bad Request", "InvalidParameterValueException", "this stand-in answers RequestResponse only")
        } else if body.len() > MAX_REQUEST_BYTES {
            error(
                "413 Request Entity Too Large",
                "RequestEntityTooLargeException",
                "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
            )
        } else {
            match handler(&body) {
                Ok(json) => ("200 OK", String::new(), json),
                Err(message) => (
                    "200 OK",
                    "X-Amz-Function-Error: Unhandled\r\n".to_owned(),
                    serde_json::json!({"errorMessage": message, "errorType": "Error"}).to_string().into_bytes(),
                ),
            }
        };
        calls.lock().unwrap().push(format!("{named} {status}"));
        write!(
            conn,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nX-Amz-Executed-Version: $LATEST\r\nx-amzn-RequestId: standin\r\n{extra}Content-Length: {}\r\n\r\n",
            answer.len()
        )?;
        conn.write_all(&answer)?;
    }
    Ok(())
}

fn error(status: &'static str, kind: &str, message: &str) -> (&'static str, String, Vec<u8>) {
    let body = serde_json::json!({"Type": "User", "message": message}).to_string().into_bytes();
    (status, format!("x-amzn-ErrorType: {kind}\r\n"), body)
}
