//! The disagreement journal: every voted call whose counted answers differed, and every late
//! answer that differed from what the consensus client was told, with each node's answer, so
//! a staker can show afterwards which EL was wrong.
//!
//! Records are kept in memory (the newest [`RECENT`], served by `GET /disagreements`) and, with
//! `--journal FILE`, appended to the file as JSON lines by a writer thread of its own. Each
//! record is written with one `write` and made durable (`fdatasync`) before the next, so a
//! crash never leaves a damaged record before the last line, and loses only records made in
//! the moment before it (the writer keeps up: one `fdatasync` per record). The file is bounded: when the next record would take it past
//! `--journal-max-bytes`, it is renamed to `FILE.1` (replacing the one before) and a new file
//! is started, so the journal takes at most twice the bound on disk.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::client_id::ClientId;
use crate::reply::Parsed;

/// Records kept in memory.
pub const RECENT: usize = 1024;
/// Longest `validationError` kept in a record, in bytes.
pub const MAX_ERROR: usize = 512;

/// One node's answer in a record.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NodeAnswer {
    /// The node's `#name=`, else its URL.
    pub node: String,
    /// The node's URL (credentials redacted).
    pub url: String,
    /// What the EL reports itself as (`engine_getClientVersionV1`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// `VALID`, `INVALID`, …, `error <code>` or `no answer: <why>`.
    pub answer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latest_valid_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_error: Option<String>,
    /// Milliseconds from the write of the request to the answer, when there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Arrived after the consensus client got its answer.
    pub late: bool,
    /// The node was catching up (its SYNCING/ACCEPTED set aside).
    pub catching_up: bool,
}

/// One disagreement.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Record {
    /// Unix time in seconds (the proxy's clock).
    pub at: u64,
    /// `vote` (answers in time differed) or `late` (an answer after the decision differed from it).
    pub kind: &'static str,
    pub method: String,
    /// The block the call was about: the payload's hash, or the head of a forkchoiceUpdated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block: Option<String>,
    /// What the consensus client was told.
    pub decided: String,
    /// The vote rule behind it.
    pub reason: String,
    pub answers: Vec<NodeAnswer>,
}

impl NodeAnswer {
    /// One node's answer to a voted call (`None`: not in by the decision).
    pub fn of(
        node: &str,
        url: &str,
        client: Option<&ClientId>,
        parsed: Option<&Parsed>,
        latency: Option<std::time::Duration>,
        late: bool,
        catching_up: bool,
    ) -> Self {
        let (answer, latest_valid_hash, validation_error) = match parsed {
            Some(Parsed::Status {
                status,
                latest_valid_hash,
                validation_error,
                ..
            }) => (
                status.as_str().to_owned(),
                latest_valid_hash.clone(),
                validation_error.as_deref().map(|e| cut(e, MAX_ERROR)),
            ),
            Some(Parsed::Error(e)) => (format!("error {}", e.code), None, None),
            Some(Parsed::Nothing(why)) => (format!("no answer: {}", cut(why, 200)), None, None),
            None => ("not in by the decision".to_owned(), None, None),
        };
        Self {
            node: node.to_owned(),
            url: url.to_owned(),
            client: client.map(ToString::to_string),
            answer,
            latest_valid_hash,
            validation_error,
            latency_ms: latency
                .filter(|_| parsed.is_some())
                .map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
            late,
            catching_up,
        }
    }
}

/// The Prometheus reason for a node's answer that differed from the decision: the answer and
/// the decision, lower-cased (`invalid_vs_valid`, `syncing_vs_valid`, `error_vs_syncing`, …),
/// prefixed `late_` for late answers.
pub fn reason(answer: &Parsed, decided: &str, late: bool) -> Option<String> {
    let answered = match answer {
        Parsed::Status { status, .. } => status.as_str(),
        Parsed::Error(_) => "error",
        Parsed::Nothing(_) => return None,
    };
    (answered != decided).then(|| {
        format!(
            "{}{}_vs_{}",
            if late { "late_" } else { "" },
            answered.to_ascii_lowercase(),
            decided.to_ascii_lowercase()
        )
    })
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_owned();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The file half of the journal.
struct JournalFile {
    path: PathBuf,
    rotated: PathBuf,
    max_bytes: u64,
    file: File,
    size: u64,
}

impl JournalFile {
    fn open(path: &Path, max_bytes: u64) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        let mut rotated = path.as_os_str().to_owned();
        rotated.push(".1");
        Ok(Self {
            path: path.to_owned(),
            rotated: PathBuf::from(rotated),
            max_bytes,
            file,
            size,
        })
    }

    fn append(&mut self, line: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            std::fs::rename(&self.path, &self.rotated)?;
            self.file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)?;
            self.size = 0;
        }
        self.file.write_all(line)?;
        self.file.sync_data()?;
        self.size += line.len() as u64;
        Ok(())
    }
}

enum ToWriter {
    Line(Vec<u8>),
    Flush(std::sync::mpsc::SyncSender<()>),
}

/// The journal: recent records in memory, and the file when one is configured.
pub struct Journal {
    recent: Mutex<VecDeque<Arc<Record>>>,
    /// The file's writer thread: records reach it in the order they were made, and the caller
    /// never waits on the disk.
    writer: Option<Mutex<std::sync::mpsc::Sender<ToWriter>>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("file", &self.writer.is_some())
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// A journal kept in memory only.
    pub fn in_memory() -> Self {
        Self {
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            writer: None,
        }
    }

    /// A journal that also appends to `path` (created if missing, appended to if present).
    pub fn with_file(path: &Path, max_bytes: u64) -> std::io::Result<Self> {
        let mut file = JournalFile::open(path, max_bytes)?;
        let (tx, rx) = std::sync::mpsc::channel::<ToWriter>();
        std::thread::Builder::new()
            .name("eb-journal".into())
            .spawn(move || {
                for msg in rx {
                    match msg {
                        ToWriter::Line(line) => {
                            if let Err(e) = file.append(&line) {
                                tracing::error!(path = %file.path.display(), error = %e, "journal write failed");
                            }
                        }
                        ToWriter::Flush(done) => {
                            let _ = done.send(());
                        }
                    }
                }
            })?;
        Ok(Self {
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            writer: Some(Mutex::new(tx)),
        })
    }

    /// Records `record`: in memory at once, and handed to the file's writer.
    pub fn record(&self, record: Record) {
        let record = Arc::new(record);
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT {
                recent.pop_back();
            }
            recent.push_front(record.clone());
        }
        let Some(writer) = &self.writer else { return };
        let mut line = match serde_json::to_vec(&*record) {
            Ok(line) => line,
            Err(e) => {
                tracing::error!(error = %e, "journal record could not be encoded");
                return;
            }
        };
        line.push(b'\n');
        let writer = writer.lock().unwrap_or_else(|p| p.into_inner());
        if writer.send(ToWriter::Line(line)).is_err() {
            tracing::error!("journal writer is gone: record kept in memory only");
        }
    }

    /// The newest `limit` records, newest first.
    pub fn newest(&self, limit: usize) -> Vec<Arc<Record>> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.iter().take(limit).cloned().collect()
    }

    /// Blocks until every record made so far is on disk (tests, shutdown).
    pub fn flush(&self) {
        let Some(writer) = &self.writer else { return };
        let (done, wait) = std::sync::mpsc::sync_channel(1);
        let sent = writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(ToWriter::Flush(done))
            .is_ok();
        if sent {
            let _ = wait.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(i: u64) -> Record {
        Record {
            at: i,
            kind: "vote",
            method: "engine_newPayloadV3".into(),
            block: Some(format!("0x{i:064x}")),
            decided: "SYNCING".into(),
            reason: "definitive INVALID".into(),
            answers: vec![NodeAnswer {
                node: "geth-1".into(),
                url: "http://127.0.0.1:1".into(),
                client: Some("Geth 1.0 (GE)".into()),
                answer: "INVALID".into(),
                latest_valid_hash: None,
                validation_error: Some("bad state root".into()),
                latency_ms: Some(1.5),
                late: false,
                catching_up: false,
            }],
        }
    }

    #[test]
    fn memory_keeps_the_newest_first_and_is_bounded() {
        let j = Journal::in_memory();
        for i in 0..(RECENT as u64 + 10) {
            j.record(record(i));
        }
        let all = j.newest(usize::MAX);
        assert_eq!(all.len(), RECENT);
        assert_eq!(all[0].at, RECENT as u64 + 9);
        assert_eq!(all[RECENT - 1].at, 10);
        assert_eq!(j.newest(3).len(), 3);
    }

    #[test]
    fn the_file_rotates_within_its_bound_and_every_line_parses() {
        let dir = std::env::temp_dir().join(format!("eb-journal-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("journal.jsonl");
        let max = 4096;
        let j = Journal::with_file(&path, max).expect("open");
        for i in 0..200 {
            j.record(record(i));
        }
        j.flush();
        let rotated = dir.join("journal.jsonl.1");
        let (a, b) = (
            std::fs::read_to_string(&path).expect("journal"),
            std::fs::read_to_string(&rotated).expect("rotated journal"),
        );
        assert!(
            a.len() as u64 <= max && b.len() as u64 <= max,
            "{} {}",
            a.len(),
            b.len()
        );
        let newest: Vec<u64> = a
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
                v["at"].as_u64().expect("at")
            })
            .collect();
        assert_eq!(newest.last(), Some(&199));
        assert!(newest.windows(2).all(|w| w[0] < w[1]), "{newest:?}");
        assert!(b
            .lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("abc", 5), "abc");
        assert_eq!(cut("ééé", 3), "é…");
        assert_eq!(
            cut(&"x".repeat(600), MAX_ERROR).len(),
            MAX_ERROR + '…'.len_utf8()
        );
    }
}
