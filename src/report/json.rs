//! The `--log-format json` sink: one JSON object per line on stdout, with
//! `level`, and `event` for node and summary records.
#![allow(clippy::print_stdout)]

use std::io::Write;
use std::sync::Mutex;

use serde_json::json;

use super::{Event, Sink};
use crate::diag::Severity;

#[derive(Default)]
pub struct JsonSink {
    lock: Mutex<()>,
}

impl JsonSink {
    fn out(&self, line: &str) {
        let line = crate::secrets::redact(line);
        let _guard = self.lock.lock();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{line}");
        let _ = stdout.flush();
    }
}

impl Sink for JsonSink {
    fn write(&self, event: &Event<'_>) {
        let line = match *event {
            Event::Info(message) => json!({"level": "info", "msg": message}).to_string(),
            // The command's answer is printed as is, for pipes.
            Event::Result(text) => text.to_owned(),
            Event::Warning(message) => json!({"level": "warn", "msg": message}).to_string(),
            Event::Note(message) => {
                json!({"level": "info", "event": "note", "msg": message}).to_string()
            }
            Event::Diagnostic(diagnostic) => json!({
                "level": match diagnostic.severity { Severity::Error => "error", Severity::Warning => "warn" },
                "msg": diagnostic.message,
                "location": diagnostic.position(),
                "help": diagnostic.help,
                "notes": diagnostic.notes,
                "rendered": diagnostic.render(),
            })
            .to_string(),
            Event::NodeFinished(line) => json!({
                "level": "info",
                "event": "node_finished",
                "index": line.index,
                "total": line.total,
                "status": line.result_status,
                "resource_type": line.resource_type,
                "unique_id": line.unique_id,
                "name": line.name,
                "message": line.detail,
                "execution_time": line.seconds,
                "failures": line.failures,
            })
            .to_string(),
            Event::Summary {
                counts,
                seconds,
                what: _,
            } => {
                let mut object = serde_json::Map::new();
                object.insert("level".into(), json!("info"));
                object.insert("event".into(), json!("summary"));
                object.insert("elapsed_time".into(), json!(seconds));
                for (k, n) in counts.labelled() {
                    object.insert(k.to_lowercase(), json!(n));
                }
                object.insert("total".into(), json!(counts.total()));
                serde_json::Value::Object(object).to_string()
            }
        };
        self.out(&line);
    }
}
