//! The BigQuery emulator for the end-to-end tests: installed by
//! `scripts/bq-emulator install`, started once per test run on a free
//! loopback port, and gone when the run ends (it exits when its stdin
//! closes). Each test works in its own BigQuery project id, so tests never
//! see each other's datasets. Also: a fault-injecting proxy, a fake endpoint
//! for what the emulator does not report, and a way to query the emulator.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sb::adapter::Adapter;
use sb::adapter::bigquery::{BigQueryAdapter, Overrides, TargetConfig};
use serde_json::{Map, Value, json};

pub struct Emulator {
    pub url: String,
    /// Kept so its stdin stays open while tests run.
    _child: Mutex<Child>,
}

static EMULATOR: OnceLock<Emulator> = OnceLock::new();
static PROJECTS: AtomicUsize = AtomicUsize::new(0);

/// The running emulator, started on first use.
pub fn emulator() -> &'static Emulator {
    EMULATOR.get_or_init(start)
}

fn start() -> Emulator {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let installed = Command::new(root.join("scripts/bq-emulator"))
        .arg("install")
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/bq-emulator install");
    assert!(
        installed.status.success(),
        "scripts/bq-emulator install failed: the BigQuery tests need Python 3 and the package index"
    );
    let python = String::from_utf8_lossy(&installed.stdout).trim().to_owned();
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let log = std::env::temp_dir().join(format!("sb-bq-emulator-{port}.log"));
    let child = Command::new(&python)
        .arg(root.join("scripts/bq-emulator-launcher.py"))
        .args(["start", "--rest-host", "127.0.0.1", "--rest-port"])
        .arg(port.to_string())
        .args(["--grpc-port", "0"])
        .env("SB_EMULATOR_WATCH_STDIN", "1")
        .stdin(Stdio::piped())
        .stdout(std::fs::File::create(&log).expect("emulator log"))
        .stderr(
            std::fs::OpenOptions::new()
                .append(true)
                .open(&log)
                .expect("emulator log"),
        )
        .spawn()
        .expect("start the BigQuery emulator");
    let url = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if http(&url, "GET", "/bigquery/v2/projects/ready/datasets", &[]).is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_mins(1),
            "the BigQuery emulator did not answer within a minute; see {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Emulator {
        url,
        _child: Mutex::new(child),
    }
}

/// A BigQuery project id no other test uses.
pub fn fresh_project(name: &str) -> String {
    format!(
        "sb-{name}-{}-{}",
        std::process::id(),
        PROJECTS.fetch_add(1, Ordering::Relaxed)
    )
}

/// One HTTP/1.1 exchange; the status and body, `None` when nothing answered.
pub fn http(root: &str, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
    let address = root.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let mut payload = response[split..].to_vec();
    if text[..split]
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        payload = dechunk(&payload);
    }
    Some((status, payload))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}

/// Runs a query on the emulator through sb's own adapter; every value as
/// a string (`NULL` for null), numbers rounded to 6 places.
pub fn query(project: &str, sql: &str) -> Vec<Vec<String>> {
    let mut fields = Map::new();
    fields.insert("project".into(), json!(project));
    fields.insert("dataset".into(), json!("analytics"));
    fields.insert("location".into(), json!("US"));
    let overrides = Overrides {
        api_url: Some(emulator().url.clone()),
        ..Overrides::default()
    };
    let config = TargetConfig::from_fields(&fields, &overrides).expect("settings");
    let adapter = BigQueryAdapter::open(
        config,
        "tests",
        Arc::new(|_: &str| {}),
        &sb::interrupt::Interrupt::new(),
    )
    .expect("adapter");
    let mut connection = adapter.connect().expect("connection");
    let result = connection
        .query(sql, None)
        .unwrap_or_else(|e| panic!("query failed: {}\n{sql}", e.message));
    result
        .rows
        .iter()
        .map(|row| row.iter().map(text).collect())
        .collect()
}

/// A value as the tests compare it across warehouses.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::String(s) => s
            .parse::<f64>()
            .ok()
            .filter(|_| s.contains('.'))
            .map_or_else(|| s.clone(), round),
        Value::Number(n) => n
            .as_i64()
            .map_or_else(|| round(n.as_f64().unwrap_or(f64::NAN)), |i| i.to_string()),
        other => other.to_string(),
    }
}

fn round(x: f64) -> String {
    let rounded = format!("{x:.6}");
    let trimmed = rounded.trim_end_matches('0').trim_end_matches('.');
    if trimmed == "-0" {
        "0".into()
    } else {
        trimmed.to_owned()
    }
}

/// What the fault proxy does to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Pass,
    TooManyRequests,
    Unavailable,
    /// Close the connection before the request reaches the emulator.
    DropBefore,
    /// Forward the request, then close the connection without the answer:
    /// the emulator did the work and sb does not know it.
    DropAfter,
}

/// A loopback proxy in front of the emulator that answers some requests
/// with faults, by a fixed schedule over request numbers and what each
/// request is (`METHOD /path`, then the `Content-Range` of an upload's part
/// when it has one, e.g. `PUT /upload/... bytes 0-262143/600000`). Like
/// BigQuery it refuses a second insert of a job id it has seen (409), which
/// the emulator itself does not.
pub struct FaultProxy {
    pub url: String,
    pub injected: Arc<Mutex<Vec<(usize, Fault, String)>>>,
    /// Every job insert's JSON (query jobs, and upload metadata).
    inserts: Arc<Mutex<Vec<Value>>>,
    /// Every request: what it was, and its body when that is JSON.
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl FaultProxy {
    pub fn start(upstream: &str, schedule: fn(usize, &str) -> Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("address").port()
        );
        let injected = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&injected);
        let inserts = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&inserts);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let every = Arc::clone(&requests);
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let seen_jobs: Arc<Mutex<std::collections::HashSet<String>>> = Arc::default();
        let counter = Arc::new(AtomicUsize::new(0));
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let upstream = upstream.clone();
                let log = Arc::clone(&log);
                let seen = Arc::clone(&seen_jobs);
                let counter = Arc::clone(&counter);
                let recorded = Arc::clone(&recorded);
                let every = Arc::clone(&every);
                std::thread::spawn(move || {
                    let _ = serve(
                        client,
                        &upstream,
                        schedule,
                        &counter,
                        &log,
                        &seen,
                        (&recorded, &every),
                    );
                });
            }
        });
        Self {
            url,
            injected,
            inserts,
            requests,
        }
    }

    pub fn job_inserts(&self) -> Vec<Value> {
        self.inserts.lock().unwrap().clone()
    }

    pub fn requests(&self) -> Vec<(String, Value)> {
        self.requests.lock().unwrap().clone()
    }
}

/// Job inserts, and every request, as the proxy records them.
type Records<'a> = (&'a Mutex<Vec<Value>>, &'a Mutex<Vec<(String, Value)>>);

fn serve(
    mut client: TcpStream,
    upstream: &str,
    schedule: fn(usize, &str) -> Fault,
    counter: &AtomicUsize,
    log: &Mutex<Vec<(usize, Fault, String)>>,
    seen: &Mutex<std::collections::HashSet<String>>,
    (recorded, every): Records<'_>,
) -> std::io::Result<()> {
    {
        let mut reader = BufReader::new(client.try_clone()?);
        let mut head = Vec::new();
        let mut content_length = 0;
        let mut content_range = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    content_length = value.trim().parse().unwrap_or(0);
                }
                if name.trim().eq_ignore_ascii_case("content-range") {
                    content_range = Some(value.trim().to_owned());
                }
            }
            let done = line == "\r\n";
            if !(line.to_ascii_lowercase().starts_with("connection:")) {
                head.push(line);
            }
            if done {
                break;
            }
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        let request_line = head.first().cloned().unwrap_or_default();
        let mut what = request_line
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(range) = content_range {
            what = format!("{what} {range}");
        }
        every.lock().unwrap().push((
            what.clone(),
            serde_json::from_slice(&body).unwrap_or(Value::Null),
        ));
        let number = counter.fetch_add(1, Ordering::SeqCst);
        let fault = schedule(number, &what);
        if fault != Fault::Pass {
            log.lock().unwrap().push((number, fault, what.clone()));
        }
        // A job id sent before: BigQuery answers 409 Already Exists.
        let job_id = job_id_of(&what, &body);
        if let Some(id) = &job_id
            && seen.lock().unwrap().contains(id)
        {
            let body = json!({"error": {"code": 409, "message": format!("Already Exists: Job {id}"), "errors": [{"reason": "duplicate", "message": "Already Exists"}]}}).to_string();
            respond(&mut client, "409 Conflict", &body)?;
            return Ok(());
        }
        match fault {
            Fault::TooManyRequests => {
                let body = json!({"error": {"code": 429, "message": "Exceeded rate limits", "errors": [{"reason": "rateLimitExceeded", "message": "Exceeded rate limits"}]}}).to_string();
                respond(&mut client, "429 Too Many Requests", &body)?;
                return Ok(());
            }
            Fault::Unavailable => {
                respond(
                    &mut client,
                    "503 Service Unavailable",
                    "<html>backend unavailable</html>",
                )?;
                return Ok(());
            }
            Fault::DropBefore => {
                client.shutdown(Shutdown::Both)?;
                return Ok(());
            }
            Fault::Pass | Fault::DropAfter => {}
        }
        let mut server = TcpStream::connect(upstream)?;
        for line in &head[..head.len() - 1] {
            server.write_all(line.as_bytes())?;
        }
        server.write_all(b"Connection: close\r\n\r\n")?;
        server.write_all(&body)?;
        let mut response = Vec::new();
        server.read_to_end(&mut response)?;
        if let Some(id) = job_id {
            seen.lock().unwrap().insert(id);
            if let Some(job) = job_json(&body) {
                recorded.lock().unwrap().push(job);
            }
        }
        if fault == Fault::DropAfter {
            client.shutdown(Shutdown::Both)?;
            return Ok(());
        }
        // The emulator's answer, closing after it.
        client.write_all(&response)?;
        client.shutdown(Shutdown::Both)
    }
}

fn respond(client: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    client.write_all(head.as_bytes())?;
    client.write_all(body.as_bytes())
}

/// The job id a job insert (JSON, or a multipart upload's metadata) carries.
fn job_id_of(what: &str, body: &[u8]) -> Option<String> {
    if !what.starts_with("POST") || !what.contains("/jobs") || what.contains("/cancel") {
        return None;
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let at = text.find("\"jobId\"")?;
    let rest = &text[at + 7..];
    let start = rest.find('"')? + 1;
    let end = start + rest[start..].find('"')?;
    Some(rest[start..end].to_owned())
}

/// The job resource in an insert: the body itself, or the JSON part of a
/// multipart upload.
fn job_json(body: &[u8]) -> Option<Value> {
    if let Ok(job) = serde_json::from_slice(body) {
        return Some(job);
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]);
    let start = text.find("\r\n\r\n")? + 4;
    let end = start + text[start..].find("\r\n--")?;
    serde_json::from_str(&text[start..end]).ok()
}

/// The project and dataset of a `GET .../projects/{p}/datasets/{d}` request.
fn dataset_of(what: &str) -> Option<(String, String)> {
    let path = what.split_whitespace().nth(1)?.split('?').next()?;
    let rest = path.strip_prefix("/bigquery/v2/projects/")?;
    let (project, rest) = rest.split_once('/')?;
    let dataset = rest.strip_prefix("datasets/")?;
    (!dataset.is_empty() && !dataset.contains('/'))
        .then(|| (project.to_owned(), dataset.to_owned()))
}

/// A stand-in for BigQuery's job endpoint that reports fixed bytes for
/// every dry run (the emulator reports 0): `bytes(query)` decides.
pub fn fake_dry_run_endpoint(bytes: fn(&str) -> u64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("address").port()
    );
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let mut reader = BufReader::new(client.try_clone().expect("clone"));
            let mut content_length = 0;
            let mut first = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if first.is_empty() {
                    first.clone_from(&line);
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.trim().eq_ignore_ascii_case("content-length")
                {
                    content_length = value.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; content_length];
            let _ = reader.read_exact(&mut body);
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let answer = if first.starts_with("POST") {
                let sql = request
                    .pointer("/configuration/query/query")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                json!({
                    "jobReference": request["jobReference"],
                    "configuration": request["configuration"],
                    "status": {"state": "DONE"},
                    "statistics": {"query": {"totalBytesProcessed": bytes(sql).to_string()}},
                })
                .to_string()
            } else {
                json!({"error": {"code": 404, "message": "Not found", "errors": [{"reason": "notFound", "message": "Not found"}]}}).to_string()
            };
            let status = if first.starts_with("POST") {
                "200 OK"
            } else {
                "404 Not Found"
            };
            let _ = respond(&mut client, status, &answer);
        }
    });
    url
}

/// A stand-in BigQuery whose query jobs never finish: datasets exist,
/// tables do not, every job stays RUNNING. Returns its URL and the
/// requests seen (method and path).
pub fn stuck_jobs_endpoint() -> (String, Arc<Mutex<Vec<String>>>) {
    stuck_jobs_endpoint_with(false)
}

/// [`stuck_jobs_endpoint`]; with `cancel_hangs`, a cancel request is never
/// answered (and nothing after it).
pub fn stuck_jobs_endpoint_with(cancel_hangs: bool) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("address").port()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let mut reader = BufReader::new(client.try_clone().expect("clone"));
            let mut first = String::new();
            let mut content_length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if first.is_empty() {
                    first.clone_from(&line);
                }
                if let Some((name, value)) = line.split_once(':')
                    && name.trim().eq_ignore_ascii_case("content-length")
                {
                    content_length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; content_length];
            let _ = reader.read_exact(&mut body);
            let what = first
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
            log.lock().unwrap().push(what.clone());
            let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let (status, answer) = if what.contains("/tables/") {
                (
                    "404 Not Found",
                    json!({"error": {"code": 404, "message": "Not found", "errors": [{"reason": "notFound", "message": "Not found"}]}}),
                )
            } else if what.contains("/cancel") {
                if cancel_hangs {
                    std::thread::sleep(Duration::from_mins(10));
                    continue;
                }
                ("200 OK", json!({"job": {"status": {"state": "DONE"}}}))
            } else if what.starts_with("POST") && what.contains("/jobs") {
                (
                    "200 OK",
                    json!({"jobReference": request["jobReference"], "status": {"state": "RUNNING"}}),
                )
            } else if what.contains("/jobs/") {
                ("200 OK", json!({"status": {"state": "RUNNING"}}))
            } else if let Some((project, dataset)) = dataset_of(&what) {
                (
                    "200 OK",
                    json!({"datasetReference": {"projectId": project, "datasetId": dataset}}),
                )
            } else {
                ("200 OK", json!({}))
            };
            let _ = respond(&mut client, status, &answer.to_string());
        }
    });
    (url, seen)
}
