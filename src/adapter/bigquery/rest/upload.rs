//! Load-job uploads, sb's own requests (gcp-bigquery-client cannot upload
//! local data): the job's JSON and the newline-delimited rows go to
//! `{root}/upload/bigquery/v2/projects/{project}/jobs`.
//!
//! Small bodies go as one `multipart/related` request. Bodies over
//! `UploadPolicy::resumable_threshold` go through a resumable session: a
//! POST with the job's JSON answers with the session's URI in `Location`;
//! the data follows in PUTs of `bytes start-end/total` (`Content-Range`),
//! each a multiple of 256 KiB but the last. BigQuery answers a part with
//! "308 Resume Incomplete" and a `Range: bytes=0-N` of what it holds, and
//! the last with the job. After a failed PUT (a reset, a timeout, a 5xx) sb
//! asks the session how much arrived (`bytes */total`) and goes on from
//! there, so a failure costs one part, not the whole upload. The session URI
//! is itself a credential for the upload: it never reaches a log or an
//! error.

use serde_json::{Value, json};

use super::{Api, ApiError, encode};

/// Bodies larger than this go up in a resumable session.
pub const RESUMABLE_THRESHOLD_BYTES: usize = 5 * 1024 * 1024;
/// Resumable parts are multiples of this (Google's rule), but the last.
pub const RESUMABLE_GRANULE_BYTES: usize = 256 * 1024;
/// The size of one resumable part.
pub const RESUMABLE_CHUNK_BYTES: usize = 32 * RESUMABLE_GRANULE_BYTES;

/// When an upload is resumable, and in what parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploadPolicy {
    /// Bodies larger than this go up in a resumable session.
    pub resumable_threshold: usize,
    /// Bytes per PUT: a multiple of 256 KiB (see `chunk_bytes`).
    pub resumable_chunk: usize,
}

impl Default for UploadPolicy {
    fn default() -> Self {
        Self {
            resumable_threshold: RESUMABLE_THRESHOLD_BYTES,
            resumable_chunk: RESUMABLE_CHUNK_BYTES,
        }
    }
}

/// A part size BigQuery accepts: `wanted` rounded up to a multiple of
/// 256 KiB, at least one.
pub fn chunk_bytes(wanted: usize) -> usize {
    wanted
        .max(1)
        .div_ceil(RESUMABLE_GRANULE_BYTES)
        .saturating_mul(RESUMABLE_GRANULE_BYTES)
}

/// The `Content-Range` of bytes `start..end` of `total`.
pub fn content_range(start: usize, end: usize, total: usize) -> String {
    format!("bytes {start}-{}/{total}", end.saturating_sub(1))
}

/// How many bytes a session holds, from a 308's `Range` header: none
/// without one, `N + 1` for `bytes=0-N`; `None` for anything else.
pub fn received_from_range(range: Option<&str>) -> Option<usize> {
    let Some(range) = range.map(str::trim) else {
        return Some(0);
    };
    let (first, last) = range.strip_prefix("bytes=")?.split_once('-')?;
    if first.trim() != "0" {
        return None;
    }
    last.trim().parse::<usize>().ok()?.checked_add(1)
}

/// What a PUT (or a status query) to a session found.
#[derive(Debug)]
enum Progress {
    /// BigQuery holds the first `n` bytes and waits for the rest.
    Holding(usize),
    /// The upload is complete: the job.
    Done(Value),
}

/// A `multipart/related` body: the job's JSON, then the data. The boundary
/// holds `=`, which is why the header quotes it.
pub fn multipart_related(metadata: &Value, data: &[u8]) -> (String, Vec<u8>) {
    let boundary = "sb_part=boundary=0a8f1c";
    let mut body = Vec::with_capacity(data.len() + 512);
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{metadata}\r\n--{boundary}\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    body.extend_from_slice(data);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/related; boundary=\"{boundary}\""), body)
}

impl Api {
    fn upload_url(&self, upload_type: &str) -> String {
        format!(
            "{}/upload/bigquery/v2/projects/{}/jobs?uploadType={upload_type}",
            self.root,
            encode(&self.project)
        )
    }

    /// Uploads `data` (newline-delimited JSON) with a load job's
    /// configuration and waits for the job.
    pub async fn load_job(
        &self,
        what: &str,
        configuration: &Value,
        data: &[u8],
    ) -> Result<Value, ApiError> {
        self.run_job(what, |job_id| {
            let metadata = json!({
                "jobReference": self.job_reference(&job_id),
                "configuration": configuration,
            });
            async move {
                if data.len() > self.upload.resumable_threshold {
                    self.upload_resumable(what, &metadata, data).await
                } else {
                    self.upload_multipart(what, &metadata, data).await
                }
            }
        })
        .await
    }

    async fn upload_multipart(
        &self,
        what: &str,
        metadata: &Value,
        data: &[u8],
    ) -> Result<Value, ApiError> {
        let (content_type, body) = &multipart_related(metadata, data);
        let url = &self.upload_url("multipart");
        self.retrying(&format!("{what} (uploading)"), || async move {
            let request = self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(body.clone());
            let response = self.send_raw(request).await?;
            Self::json_answer(response).await
        })
        .await
    }

    /// One resumable session: started (retried like any call), then fed
    /// part by part, each failure followed by a question of how much
    /// arrived. Failures in a row are limited by the retry policy; a part
    /// that lands resets the count.
    async fn upload_resumable(
        &self,
        what: &str,
        metadata: &Value,
        data: &[u8],
    ) -> Result<Value, ApiError> {
        let total = data.len();
        let session = self
            .retrying(
                &format!("{what} (starting a resumable upload)"),
                move || self.start_session(metadata, total),
            )
            .await?;
        let chunk = chunk_bytes(self.upload.resumable_chunk);
        let mut offset = 0;
        let mut offset_known = true;
        let mut furthest = 0;
        let mut failures = 0;
        loop {
            let end = (offset + chunk).min(total);
            let step = if offset_known {
                self.put_part(&session, &data[offset..end], offset, total)
                    .await
            } else {
                self.query_session(&session, total).await
            };
            match step {
                Ok(Progress::Done(job)) => return Ok(job),
                Ok(Progress::Holding(received)) if received > total => {
                    return Err(ApiError::new(format!(
                        "BigQuery reports holding {received} bytes of a {total}-byte upload"
                    )));
                }
                Ok(Progress::Holding(received)) => {
                    if received > furthest {
                        furthest = received;
                        failures = 0;
                    } else if offset_known {
                        // A part went up and the session holds no more than
                        // before: count it as a failure, or this never ends.
                        if failures >= self.retry.retries {
                            return Err(ApiError::new(format!(
                                "BigQuery keeps refusing the upload's bytes from {offset} on"
                            )));
                        }
                        failures += 1;
                    }
                    offset = received;
                    offset_known = true;
                }
                Err(error) if error.retryable && failures < self.retry.retries => {
                    let part = if offset_known {
                        format!("uploading bytes {offset}-{} of {total}", end - 1)
                    } else {
                        "asking how much of the upload arrived".to_owned()
                    };
                    self.back_off(&format!("{what} ({part})"), &error, failures)
                        .await;
                    failures += 1;
                    offset_known = false;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Starts a session; its URI.
    async fn start_session(&self, metadata: &Value, total: usize) -> Result<String, ApiError> {
        let request = self
            .http
            .post(self.upload_url("resumable"))
            .header("X-Upload-Content-Type", "application/octet-stream")
            .header("X-Upload-Content-Length", total.to_string())
            .json(metadata);
        let response = self.send_raw(request).await?;
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let status = response.status().as_u16();
        Self::json_answer(response).await?;
        match location {
            Some(uri) if uri.starts_with("http://") || uri.starts_with("https://") => Ok(uri),
            Some(path) if path.starts_with('/') => Ok(format!("{}{path}", self.root)),
            _ => Err(ApiError::new(format!(
                "BigQuery started an upload session (HTTP {status}) without saying where to send the data"
            ))),
        }
    }

    /// Sends `part`, which starts at byte `offset` of `total`.
    async fn put_part(
        &self,
        session: &str,
        part: &[u8],
        offset: usize,
        total: usize,
    ) -> Result<Progress, ApiError> {
        let request = self
            .http
            .put(session)
            .header(
                reqwest::header::CONTENT_RANGE,
                content_range(offset, offset + part.len(), total),
            )
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(part.to_vec());
        self.session_answer(self.send_raw(request).await?).await
    }

    /// Asks a session how much it holds (`bytes */total`, no body).
    async fn query_session(&self, session: &str, total: usize) -> Result<Progress, ApiError> {
        let request = self
            .http
            .put(session)
            .header(reqwest::header::CONTENT_RANGE, format!("bytes */{total}"))
            .body(Vec::new());
        self.session_answer(self.send_raw(request).await?).await
    }

    async fn session_answer(&self, response: reqwest::Response) -> Result<Progress, ApiError> {
        if response.status().as_u16() == 308 {
            let range = response
                .headers()
                .get(reqwest::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            return received_from_range(range.as_deref())
                .map(Progress::Holding)
                .ok_or_else(|| {
                    ApiError::new(format!(
                        "BigQuery answered an upload part with a Range sb cannot read: {}",
                        range.unwrap_or_default()
                    ))
                });
        }
        let status = response.status().as_u16();
        let job = Self::json_answer(response).await?;
        if job.is_object() {
            Ok(Progress::Done(job))
        } else {
            Err(ApiError::new(format!(
                "BigQuery finished an upload (HTTP {status}) without describing the job"
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_multiples_of_256_kib() {
        assert_eq!(chunk_bytes(0), RESUMABLE_GRANULE_BYTES);
        assert_eq!(chunk_bytes(1), RESUMABLE_GRANULE_BYTES);
        assert_eq!(
            chunk_bytes(RESUMABLE_GRANULE_BYTES),
            RESUMABLE_GRANULE_BYTES
        );
        assert_eq!(
            chunk_bytes(RESUMABLE_GRANULE_BYTES + 1),
            2 * RESUMABLE_GRANULE_BYTES
        );
        assert_eq!(chunk_bytes(RESUMABLE_CHUNK_BYTES), RESUMABLE_CHUNK_BYTES);
        assert_eq!(RESUMABLE_CHUNK_BYTES % RESUMABLE_GRANULE_BYTES, 0);
    }

    #[test]
    fn content_ranges_are_inclusive() {
        assert_eq!(content_range(0, 262_144, 600_000), "bytes 0-262143/600000");
        assert_eq!(
            content_range(524_288, 600_000, 600_000),
            "bytes 524288-599999/600000"
        );
    }

    #[test]
    fn a_range_header_says_how_much_arrived() {
        assert_eq!(received_from_range(None), Some(0));
        assert_eq!(received_from_range(Some("bytes=0-262143")), Some(262_144));
        assert_eq!(received_from_range(Some(" bytes=0-0 ")), Some(1));
        assert_eq!(received_from_range(Some("bytes=5-10")), None);
        assert_eq!(received_from_range(Some("bytes=0-")), None);
        assert_eq!(received_from_range(Some("items=0-10")), None);
        assert_eq!(received_from_range(Some("bytes=0-x")), None);
    }

    /// A stand-in session: the first part lands (308), the second lands
    /// but its answer is a 503, so sb asks, hears that it landed, and sends
    /// the rest; the last part answers with the job.
    #[test]
    fn a_resumable_upload_goes_on_from_what_the_session_holds() {
        use super::super::stand_in::{Answer, api, block, fake_server_with};
        use std::sync::Mutex;

        let held = Mutex::new(0_usize);
        let (url, seen) = fake_server_with(move |request| {
            let mut held = held.lock().expect("state");
            if request.method == "POST" {
                return Answer {
                    status: 200,
                    headers: vec![("Location".into(), "/upload/session?upload_id=s1".into())],
                    body: Value::Null,
                };
            }
            let range = request.header("content-range").unwrap_or_default();
            let holding = |n: usize| Answer {
                status: 308,
                headers: vec![("Range".into(), format!("bytes=0-{}", n - 1))],
                body: Value::Null,
            };
            if range.starts_with("bytes */") {
                return holding(*held);
            }
            *held += request.body.len();
            if range.ends_with(&format!("-{}/{}", 599_999, 600_000)) {
                return Answer::from((
                    200,
                    json!({"jobReference": {"jobId": "j"}, "status": {"state": "DONE"}}),
                ));
            }
            if *held == 2 * RESUMABLE_GRANULE_BYTES {
                return Answer::from((
                    503,
                    json!({"error": {"code": 503, "message": "try again", "errors": [{"reason": "backendError", "message": "try again"}]}}),
                ));
            }
            holding(*held)
        });
        let mut api = api(&url);
        api.upload = UploadPolicy {
            resumable_threshold: 1024,
            resumable_chunk: 1,
        };
        let data: Vec<u8> = (0..600_000_u32).map(|i| (i % 251) as u8).collect();
        let job = block(api.load_job("a load job", &json!({"load": {}}), &data))
            .expect("the upload completes");
        assert_eq!(job.pointer("/status/state"), Some(&json!("DONE")));

        let requests = seen.lock().expect("log").clone();
        let started = &requests[0];
        assert!(
            started.path.ends_with("/jobs?uploadType=resumable"),
            "{}",
            started.path
        );
        assert_eq!(started.header("x-upload-content-length"), Some("600000"));
        assert!(started.json().pointer("/jobReference/jobId").is_some());
        let ranges: Vec<&str> = requests[1..]
            .iter()
            .map(|r| r.header("content-range").unwrap_or_default())
            .collect();
        assert_eq!(
            ranges,
            [
                "bytes 0-262143/600000",
                "bytes 262144-524287/600000",
                "bytes */600000",
                "bytes 524288-599999/600000",
            ]
        );
        assert!(
            requests[1..]
                .iter()
                .all(|r| r.path == "/upload/session?upload_id=s1")
        );
        let sent: Vec<u8> = requests[1..]
            .iter()
            .flat_map(|r| r.body.iter().copied())
            .collect();
        assert_eq!(sent, data, "every byte once, in order");
    }

    #[test]
    fn small_uploads_go_in_one_multipart_request() {
        use super::super::stand_in::{Answer, api, block, fake_server_with};

        let (url, seen) = fake_server_with(|_| {
            Answer::from((
                200,
                json!({"jobReference": {"jobId": "j"}, "status": {"state": "DONE"}}),
            ))
        });
        let api = api(&url);
        block(api.load_job("a load job", &json!({"load": {}}), b"{\"x\":1}\n")).expect("loaded");
        let requests = seen.lock().expect("log").clone();
        assert_eq!(requests.len(), 1);
        assert!(requests[0].path.ends_with("/jobs?uploadType=multipart"));
        assert!(
            requests[0]
                .header("content-type")
                .is_some_and(|t| t.starts_with("multipart/related; boundary=\""))
        );
    }

    #[test]
    fn multipart_body_quotes_its_boundary() {
        let (content_type, body) = multipart_related(&json!({"a": 1}), b"{\"x\":1}\n");
        assert!(content_type.starts_with("multipart/related; boundary=\""));
        let boundary = content_type.split('"').nth(1).expect("a quoted boundary");
        assert!(boundary.contains('='));
        let text = String::from_utf8(body).expect("utf-8");
        assert!(text.starts_with(&format!("--{boundary}\r\n")));
        assert!(text.contains("{\"a\":1}"));
        assert!(text.ends_with(&format!("{{\"x\":1}}\n\r\n--{boundary}--\r\n")));
    }
}
