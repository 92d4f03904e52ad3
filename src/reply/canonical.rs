//! The usual shape of a voted answer, read without a general JSON parser.
//!
//! Execution clients answer a voted call in one compact form, members in the spec's order:
//!
//! ```text
//! {"jsonrpc":"2.0","id":ID,"result":STATUS}                                  newPayload
//! {"jsonrpc":"2.0","id":ID,"result":{"payloadStatus":STATUS,"payloadId":P}}  forkchoiceUpdated
//! STATUS = {"status":S,"latestValidHash":H,"validationError":E}
//! ```
//!
//! where `ID` is byte for byte the id that was sent, `S` a string and `H`, `E`, `P` each a string
//! or `null`, and only whitespace may follow. [`read`] accepts exactly that, with strings that
//! have no escapes or control characters and are valid UTF-8; on any other input it returns
//! `None` and the caller takes the general parse, which gives the same result for everything
//! accepted here (a property test holds the two together). Nothing is trusted on this path that
//! the general one would not check: what it returns still goes through the same status, hash
//! and length checks.

use crate::vote::Kind;

/// The pieces of a voted answer in the usual shape; every slice borrows from the body.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Canonical<'a> {
    /// The PayloadStatus object, as sent.
    pub status_raw: &'a [u8],
    pub status: &'a str,
    pub latest_valid_hash: Option<&'a str>,
    pub validation_error: Option<&'a str>,
    pub payload_id: Option<&'a str>,
}

struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Steps over `bytes`, which must come next.
    fn expect(&mut self, bytes: &[u8]) -> Option<()> {
        let end = self.at.checked_add(bytes.len())?;
        (self.body.get(self.at..end)? == bytes).then(|| self.at = end)
    }

    /// A string without escapes or control characters, valid UTF-8; its contents.
    fn plain(&mut self) -> Option<&'a str> {
        self.expect(b"\"")?;
        let rest = self.body.get(self.at..)?;
        let len = memchr::memchr2(b'"', b'\\', rest)?;
        let s = &rest[..len];
        if rest[len] != b'"' || s.iter().any(|&b| b < 0x20) {
            return None;
        }
        let s = std::str::from_utf8(s).ok()?;
        self.at += len + 1;
        Some(s)
    }

    /// `null` or a plain string.
    fn null_or_plain(&mut self) -> Option<Option<&'a str>> {
        if self.expect(b"null").is_some() {
            return Some(None);
        }
        self.plain().map(Some)
    }

    /// A PayloadStatus in the usual shape: its bytes and its three members.
    #[allow(clippy::type_complexity)]
    fn status(&mut self) -> Option<(&'a [u8], &'a str, Option<&'a str>, Option<&'a str>)> {
        let from = self.at;
        self.expect(br#"{"status":"#)?;
        let status = self.plain()?;
        self.expect(br#","latestValidHash":"#)?;
        let lvh = self.null_or_plain()?;
        self.expect(br#","validationError":"#)?;
        let error = self.null_or_plain()?;
        self.expect(b"}")?;
        Some((&self.body[from..self.at], status, lvh, error))
    }
}

/// The answer's pieces when `body` has the usual shape for `kind` and echoes `sent_id` exactly;
/// `None` otherwise (the caller then parses it in full).
pub(super) fn read<'a>(kind: Kind, body: &'a [u8], sent_id: &[u8]) -> Option<Canonical<'a>> {
    let mut c = Cursor { body, at: 0 };
    c.expect(br#"{"jsonrpc":"2.0","id":"#)?;
    c.expect(sent_id)?;
    c.expect(br#","result":"#)?;
    let (status_raw, status, latest_valid_hash, validation_error, payload_id) = match kind {
        Kind::NewPayload => {
            let (raw, s, lvh, e) = c.status()?;
            (raw, s, lvh, e, None)
        }
        Kind::ForkchoiceUpdated => {
            c.expect(br#"{"payloadStatus":"#)?;
            let (raw, s, lvh, e) = c.status()?;
            c.expect(br#","payloadId":"#)?;
            let id = c.null_or_plain()?;
            c.expect(b"}")?;
            (raw, s, lvh, e, id)
        }
    };
    c.expect(b"}")?;
    body[c.at..]
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .then_some(Canonical {
            status_raw,
            status,
            latest_valid_hash,
            validation_error,
            payload_id,
        })
}
