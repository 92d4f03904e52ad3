//! Requests the front refused before they reached the proxy: counted by reason
//! (`eb_refused_requests_total{reason}`, registered by [`crate::metrics::Metrics`]) and logged at WARN with the reason and the peer's
//! address, at most once per reason every [`LOG_EVERY`] (the line says how many were not
//! logged in between).

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use eb_transport::JwtError;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::time::Instant;

/// At most one log line per reason this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No `Authorization: Bearer` token.
    NoToken,
    /// A token that is not a well-formed HS256 JWT.
    MalformedToken,
    /// Signed with another secret.
    WrongSecret,
    /// Its `iat` is missing, too far from now, or it expired.
    StaleToken,
    /// An admin call without a token signed with `--admin-jwt-secret`.
    AdminToken,
    /// An admin call while `--admin-jwt-secret` is not set.
    AdminOff,
    /// `Content-Type` other than `application/json`.
    ContentType,
    /// Body over `--max-request-bytes`.
    TooLarge,
    /// Body not in within `--body-timeout`.
    BodyTimeout,
    /// This process's own request came back.
    Loop,
    /// An HTTP method or path the API does not have.
    Method,
}

impl Reason {
    pub const ALL: [Reason; 11] = [
        Self::NoToken,
        Self::MalformedToken,
        Self::WrongSecret,
        Self::StaleToken,
        Self::AdminToken,
        Self::AdminOff,
        Self::ContentType,
        Self::TooLarge,
        Self::BodyTimeout,
        Self::Loop,
        Self::Method,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoToken => "no_token",
            Self::MalformedToken => "malformed_token",
            Self::WrongSecret => "wrong_secret",
            Self::StaleToken => "stale_token",
            Self::AdminToken => "admin_token",
            Self::AdminOff => "admin_off",
            Self::ContentType => "content_type",
            Self::TooLarge => "too_large",
            Self::BodyTimeout => "body_timeout",
            Self::Loop => "loop",
            Self::Method => "method",
        }
    }

    /// What a failed engine token check means.
    pub fn of_jwt(e: &JwtError) -> Self {
        match e {
            JwtError::MissingHeader | JwtError::NotBearer => Self::NoToken,
            JwtError::Signature => Self::WrongSecret,
            JwtError::MissingIat | JwtError::Stale { .. } | JwtError::Expired { .. } => {
                Self::StaleToken
            }
            _ => Self::MalformedToken,
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Self::NoToken | Self::MalformedToken => {
                "request without a valid engine JWT refused: is the consensus client configured with --jwt-secret's file?"
            }
            Self::WrongSecret => {
                "request signed with another secret refused: the consensus client must use the file given to --jwt-secret"
            }
            Self::StaleToken => {
                "request with a stale or expired token refused: check both machines' clocks (tokens must be within 60 s)"
            }
            Self::AdminToken => "REST API call without a valid admin token refused",
            Self::AdminOff => "REST API call refused: --admin-jwt-secret is not set",
            Self::ContentType => "request refused: Content-Type is not application/json",
            Self::TooLarge => "request refused: body over --max-request-bytes",
            Self::BodyTimeout => "request refused: body not received within --body-timeout",
            Self::Loop => "request loop refused",
            Self::Method => "request refused: no such method or path",
        }
    }
}

#[derive(Default)]
struct LastLog {
    at: Option<Instant>,
    suppressed: u64,
}

/// The label set of `eb_refused_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    reason: &'static str,
}

/// Counts and rate-limited log lines, per reason.
pub struct Refusals {
    family: Family<ReasonLabel, Counter>,
    /// Each reason's series, resolved at the start (every reason shows, zeros included, so a
    /// rate can be taken from the start).
    counts: [Counter; Reason::ALL.len()],
    logs: [Mutex<LastLog>; Reason::ALL.len()],
}

impl Default for Refusals {
    fn default() -> Self {
        let family = Family::<ReasonLabel, Counter>::default();
        let counts = Reason::ALL.map(|r| {
            family
                .get_or_create(&ReasonLabel { reason: r.as_str() })
                .clone()
        });
        Self {
            family,
            counts,
            logs: Default::default(),
        }
    }
}

impl Refusals {
    /// The family, to register.
    pub fn family(&self) -> Family<ReasonLabel, Counter> {
        self.family.clone()
    }

    /// Counts one refusal; logs it unless this reason was logged within [`LOG_EVERY`].
    pub fn refused(&self, reason: Reason, peer: SocketAddr, detail: &str) {
        let i = reason as usize;
        self.counts[i].inc();
        let now = Instant::now();
        let mut last = self.logs[i].lock().unwrap_or_else(|p| p.into_inner());
        if last
            .at
            .is_some_and(|at| now.saturating_duration_since(at) < LOG_EVERY)
        {
            last.suppressed += 1;
            return;
        }
        let not_logged = std::mem::take(&mut last.suppressed);
        last.at = Some(now);
        drop(last);
        tracing::warn!(
            reason = reason.as_str(),
            %peer,
            detail,
            not_logged_since_last = not_logged,
            "{}",
            reason.hint()
        );
    }

    /// Counts one refusal that its caller logs itself.
    pub fn count_only(&self, reason: Reason) {
        self.counts[reason as usize].inc();
    }

    pub fn count(&self, reason: Reason) -> u64 {
        self.counts[reason as usize].get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn counted_every_time_logged_once_per_window() {
        let r = Refusals::default();
        let peer = SocketAddr::from(([127, 0, 0, 1], 9));
        for _ in 0..5 {
            r.refused(Reason::WrongSecret, peer, "bad token signature");
        }
        r.refused(Reason::NoToken, peer, "missing Authorization header");
        assert_eq!(r.count(Reason::WrongSecret), 5);
        assert_eq!(r.count(Reason::NoToken), 1);
        let suppressed = |reason: Reason| r.logs[reason as usize].lock().expect("lock").suppressed;
        assert_eq!(suppressed(Reason::WrongSecret), 4);
        assert_eq!(suppressed(Reason::NoToken), 0);
        tokio::time::advance(LOG_EVERY).await;
        r.refused(Reason::WrongSecret, peer, "bad token signature");
        assert_eq!(
            suppressed(Reason::WrongSecret),
            0,
            "logged again, with the 4"
        );
    }
}
