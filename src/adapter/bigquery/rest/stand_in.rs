//! A stand-in BigQuery on loopback for the unit tests: each request is
//! answered by a closure and recorded.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::super::auth::Credentials;
use super::Api;

/// One request as the stand-in server saw it.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the stand-in server answers: a status, headers, a JSON body.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl From<(u16, Value)> for Answer {
    fn from((status, body): (u16, Value)) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body,
        }
    }
}

/// A stand-in BigQuery on loopback: `answer(request)` makes each
/// response; every request is recorded.
#[allow(clippy::type_complexity)]
pub(crate) fn fake_server_with(
    answer: impl Fn(&Seen) -> Answer + Send + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut first = String::new();
            let mut headers = Vec::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if first.is_empty() {
                    first.clone_from(&line);
                    continue;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                    headers.push((name.trim().to_owned(), value.trim().to_owned()));
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let mut parts = first.split_whitespace();
            let request = Seen {
                method: parts.next().unwrap_or_default().to_owned(),
                path: parts.next().unwrap_or_default().to_owned(),
                headers,
                body,
            };
            let reply = answer(&request);
            log.lock().expect("log").push(request);
            let text = if reply.body.is_null() {
                String::new()
            } else {
                reply.body.to_string()
            };
            let mut extra = String::new();
            for (name, value) in &reply.headers {
                let _ = write!(extra, "{name}: {value}\r\n");
            }
            let _ = write!(
                stream,
                "HTTP/1.1 {} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                reply.status,
                text.len()
            );
        }
    });
    (url, seen)
}

/// `fake_server_with` for JSON-only exchanges: `answer(method, path,
/// body)`.
pub(crate) fn fake_server(
    answer: impl Fn(&str, &str, &Value) -> (u16, Value) + Send + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    fake_server_with(move |r: &Seen| answer(&r.method, &r.path, &r.json()).into())
}

pub(crate) fn block<T>(work: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(work)
}

pub(crate) fn api(url: &str) -> Api {
    let mut api = block(Api::new(
        url,
        "proj".into(),
        Some("US".into()),
        &Credentials::none(),
        Arc::new(|_: &str| {}),
    ))
    .expect("client");
    api.retry.initial = Duration::from_millis(1);
    api
}
