//! The vote: a pure function from the ELs' answers to what the consensus client is told.
//!
//! The rules are the original project's, made unambiguous, with one safety rule on top:
//!
//! 1. Only answers that carry a `PayloadStatus` are votes. Timeouts, transport failures,
//!    unusable bodies and JSON-RPC errors are not. `n` is the number of votes.
//! 2. `INVALID_BLOCK_HASH` counts as `INVALID`. For forkchoiceUpdated, `ACCEPTED` (which the spec
//!    does not allow there) counts as `SYNCING`.
//! 3. `threshold = round(n × majority)` (half away from zero, at least 1). A status is the
//!    majority only if its count reaches the threshold *and* it is strictly the most common;
//!    any tie for first place means there is no majority.
//! 4. No votes, or no majority: `SYNCING`, except that when there are no votes but every EL that
//!    answered returned the same JSON-RPC error code, that error is returned (a bad request is
//!    bad on every EL: -32602, -38003, -38005…).
//! 5. Majority `INVALID`: `INVALID`, with the `latestValidHash`/`validationError` pair that most
//!    INVALID voters gave.
//! 6. Any `INVALID` vote while the majority is something else: `SYNCING`. A single definitive
//!    INVALID is never outvoted into VALID (nor into ACCEPTED, which would also make the CL
//!    import the block).
//! 7. Otherwise the majority: `VALID`, `SYNCING`, or `ACCEPTED` (newPayload only).
//!
//! [`decide_ballots`] is what the proxy runs. It adds three rules on top:
//!
//! 8. A node that is *catching up* (it said SYNCING or ACCEPTED where counted nodes said VALID,
//!    missed a call, or has just come back) has its SYNCING and ACCEPTED set aside: they are
//!    not votes, so they neither tie nor outvote the nodes that know. Its VALID and INVALID
//!    count like anyone's.
//! 9. `VALID` needs at least `min_valid` VALID votes (`--min-valid`, default 1); fewer gives
//!    `SYNCING`.
//! 10. A block some node called INVALID (in time or late) is never answered `VALID` or
//!     `ACCEPTED` while that INVALID stands: `SYNCING`.

use std::fmt;

/// A `PayloadStatus.status` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Valid,
    Invalid,
    InvalidBlockHash,
    Syncing,
    Accepted,
}

impl Status {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "VALID" => Self::Valid,
            "INVALID" => Self::Invalid,
            "INVALID_BLOCK_HASH" => Self::InvalidBlockHash,
            "SYNCING" => Self::Syncing,
            "ACCEPTED" => Self::Accepted,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "VALID",
            Self::Invalid => "INVALID",
            Self::InvalidBlockHash => "INVALID_BLOCK_HASH",
            Self::Syncing => "SYNCING",
            Self::Accepted => "ACCEPTED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which voted call this is; it changes which statuses are legal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    NewPayload,
    ForkchoiceUpdated,
}

impl Kind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Kind::NewPayload => "newPayload",
            Kind::ForkchoiceUpdated => "forkchoiceUpdated",
        }
    }

    /// The counting category of `status` for this kind (rule 2).
    pub fn category(self, status: Status) -> Status {
        category(self, status)
    }
}

/// One vote-eligible EL's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer<'a> {
    Status {
        status: Status,
        latest_valid_hash: Option<&'a str>,
        validation_error: Option<&'a str>,
    },
    /// A JSON-RPC error object, identified by its code.
    Error { code: i64 },
    /// Timeout, refused connection, HTTP failure, unusable body: no answer at all.
    NoAnswer,
}

impl Answer<'_> {
    pub fn status(status: Status) -> Self {
        Answer::Status {
            status,
            latest_valid_hash: None,
            validation_error: None,
        }
    }
}

/// What to tell the consensus client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Forward the status of `answers[index]` (VALID, INVALID or ACCEPTED).
    Follow { status: Status, index: usize },
    /// A synthesized `SYNCING` (latestValidHash and validationError null).
    Syncing,
    /// Return the JSON-RPC error of `answers[index]`.
    Error { index: usize },
}

/// Why the vote came out as it did (logged and counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Majority,
    NoAnswers,
    NoMajority,
    /// At least one INVALID vote against a non-INVALID majority.
    InvalidDissent,
    SameError,
    /// The majority was VALID with fewer VALID votes than `--min-valid`.
    TooFewValid,
    /// A VALID or ACCEPTED majority for a block some node called INVALID before.
    KnownInvalid,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Majority => "majority",
            Self::NoAnswers => "no_answers",
            Self::NoMajority => "no_majority",
            Self::InvalidDissent => "invalid_dissent",
            Self::SameError => "same_error",
            Self::TooFewValid => "too_few_valid",
            Self::KnownInvalid => "known_invalid",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub valid: usize,
    pub invalid: usize,
    pub syncing: usize,
    pub accepted: usize,
    pub errors: usize,
    pub no_answer: usize,
    /// SYNCING/ACCEPTED answers of catching-up nodes, set aside (rule 8).
    pub set_aside: usize,
    /// Votes needed for a majority.
    pub threshold: usize,
}

impl Tally {
    pub fn votes(&self) -> usize {
        self.valid + self.invalid + self.syncing + self.accepted
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: Reason,
    pub tally: Tally,
    /// The ELs did not all say the same thing (different statuses, or statuses and errors, or
    /// different errors). Timeouts alone are not a disagreement.
    pub disagreement: bool,
    /// In a disagreement, the most common status category among the answers (on a tie, the
    /// earliest of VALID, INVALID, SYNCING, ACCEPTED): every status of another category dissents
    /// ([`Decision::dissents`]). `None` without a disagreement, or without a status.
    pub agreed: Option<Status>,
}

impl Decision {
    /// Whether `answer` dissented: a status outside the agreed category, in a disagreement.
    /// Errors and missing answers never dissent.
    pub fn dissents(&self, kind: Kind, answer: &Answer<'_>) -> bool {
        match (self.agreed, answer) {
            (Some(agreed), Answer::Status { status, .. }) => category(kind, *status) != agreed,
            _ => false,
        }
    }
}

/// The most common category of `counts` (VALID, INVALID, SYNCING, ACCEPTED), the earliest on a
/// tie; `None` when all are zero.
fn most_common(counts: [usize; 4]) -> Option<Status> {
    const ORDER: [Status; 4] = [
        Status::Valid,
        Status::Invalid,
        Status::Syncing,
        Status::Accepted,
    ];
    let mut best: Option<(Status, usize)> = None;
    for (status, n) in ORDER.into_iter().zip(counts) {
        if n > 0 && best.is_none_or(|(_, m)| n > m) {
            best = Some((status, n));
        }
    }
    best.map(|(s, _)| s)
}

/// [`Decision::agreed`] over `answers`: the most common status category when `disagreement`.
pub fn agreed<'a>(
    kind: Kind,
    answers: impl Iterator<Item = Answer<'a>>,
    disagreement: bool,
) -> Option<Status> {
    if !disagreement {
        return None;
    }
    let mut counts = [0; 4];
    for answer in answers {
        if let Answer::Status { status, .. } = answer {
            counts[match category(kind, status) {
                Status::Valid => 0,
                Status::Invalid => 1,
                Status::Syncing => 2,
                _ => 3,
            }] += 1;
        }
    }
    most_common(counts)
}

/// Counting category of a status under rule 2.
fn category(kind: Kind, status: Status) -> Status {
    match (kind, status) {
        (_, Status::InvalidBlockHash) => Status::Invalid,
        (Kind::ForkchoiceUpdated, Status::Accepted) => Status::Syncing,
        (_, s) => s,
    }
}

/// The number of votes a status needs: `round(n × majority)`, at least 1.
pub fn threshold(votes: usize, majority: f64) -> usize {
    ((votes as f64 * majority).round() as usize).max(1)
}

/// One vote-eligible node's answer, and whether the node is catching up (rule 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ballot<'a> {
    pub answer: Answer<'a>,
    pub catching_up: bool,
}

impl<'a> Ballot<'a> {
    pub fn of(answer: Answer<'a>) -> Self {
        Self {
            answer,
            catching_up: false,
        }
    }
}

/// The settings and facts the vote needs besides the answers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rules {
    /// `--fcu-majority`, in (0, 1].
    pub majority: f64,
    /// `--min-valid`: VALID votes needed for a VALID answer (at least 1).
    pub min_valid: usize,
    /// Some node called this block INVALID before, and that still stands.
    pub known_invalid: bool,
}

impl Rules {
    pub fn majority(majority: f64) -> Self {
        Self {
            majority,
            min_valid: 1,
            known_invalid: false,
        }
    }
}

/// The signature of [`decide_ballots`]. The proxy holds one in its settings so the simulation
/// can plug in a deliberately wrong vote and show that its invariants catch it.
pub type VoteFn = fn(Kind, &[Ballot<'_>], &Rules) -> Decision;

/// The proxy's vote: rules 1–7 of [`decide`] over the answers that count, then rules 8–10.
pub fn decide_ballots(kind: Kind, ballots: &[Ballot<'_>], rules: &Rules) -> Decision {
    let mut set_aside = 0;
    let answers: Vec<Answer<'_>> = ballots
        .iter()
        .map(|b| match b.answer {
            Answer::Status { status, .. }
                if b.catching_up
                    && matches!(category(kind, status), Status::Syncing | Status::Accepted) =>
            {
                set_aside += 1;
                Answer::NoAnswer
            }
            a => a,
        })
        .collect();
    let mut d = decide(kind, &answers, rules.majority);
    d.tally.set_aside = set_aside;
    d.tally.no_answer -= set_aside;
    if set_aside > 0 && d.tally.votes() + d.tally.errors > 0 {
        d.disagreement = true;
    }
    // Dissent among all the answers, set-aside ones too: a catching-up node's SYNCING among
    // VALIDs is still a different answer.
    if set_aside > 0 {
        d.agreed = agreed(kind, ballots.iter().map(|b| b.answer), d.disagreement);
    }
    let min_valid = rules.min_valid.max(1);
    match d.outcome {
        Outcome::Follow {
            status: Status::Valid | Status::Accepted,
            ..
        } if rules.known_invalid => {
            d.outcome = Outcome::Syncing;
            d.reason = Reason::KnownInvalid;
        }
        Outcome::Follow {
            status: Status::Valid,
            ..
        } if d.tally.valid < min_valid => {
            d.outcome = Outcome::Syncing;
            d.reason = Reason::TooFewValid;
        }
        _ => {}
    }
    d
}

/// Decides what to answer. `majority` is `--fcu-majority`, in (0, 1].
pub fn decide(kind: Kind, answers: &[Answer<'_>], majority: f64) -> Decision {
    let mut tally = Tally::default();
    let mut first_error: Option<(usize, i64)> = None;
    let mut errors_differ = false;
    for answer in answers {
        match *answer {
            Answer::Status { status, .. } => match category(kind, status) {
                Status::Valid => tally.valid += 1,
                Status::Invalid => tally.invalid += 1,
                Status::Syncing => tally.syncing += 1,
                Status::Accepted => tally.accepted += 1,
                Status::InvalidBlockHash => unreachable!("folded into Invalid by category()"),
            },
            Answer::Error { code } => {
                tally.errors += 1;
                match first_error {
                    None => first_error = Some((tally.errors - 1, code)),
                    Some((_, first)) if first != code => errors_differ = true,
                    Some(_) => {}
                }
            }
            Answer::NoAnswer => tally.no_answer += 1,
        }
    }
    let kinds_seen = usize::from(tally.valid > 0)
        + usize::from(tally.invalid > 0)
        + usize::from(tally.syncing > 0)
        + usize::from(tally.accepted > 0)
        + usize::from(tally.errors > 0)
        + usize::from(errors_differ);
    let disagreement = kinds_seen > 1;
    let n = tally.votes();
    // The most common category, the earliest of VALID, INVALID, SYNCING, ACCEPTED on a tie;
    // `tied` when another category has as many.
    let counts = [tally.valid, tally.invalid, tally.syncing, tally.accepted];
    let (mut leader, mut top, mut tied) = (Status::Syncing, 0, false);
    for (status, c) in [
        Status::Valid,
        Status::Invalid,
        Status::Syncing,
        Status::Accepted,
    ]
    .into_iter()
    .zip(counts)
    {
        if c > top {
            (leader, top, tied) = (status, c, false);
        } else if c == top && c > 0 {
            tied = true;
        }
    }
    let agreed = (disagreement && top > 0).then_some(leader);
    let decision = |outcome, reason, tally| Decision {
        outcome,
        reason,
        tally,
        disagreement,
        agreed,
    };

    if n == 0 {
        if tally.errors > 0 && !errors_differ {
            let index = answers
                .iter()
                .position(|a| matches!(a, Answer::Error { .. }))
                .unwrap_or(0);
            return decision(Outcome::Error { index }, Reason::SameError, tally);
        }
        return decision(Outcome::Syncing, Reason::NoAnswers, tally);
    }

    tally.threshold = threshold(n, majority);
    if tied || top < tally.threshold {
        return decision(Outcome::Syncing, Reason::NoMajority, tally);
    }

    match leader {
        Status::Invalid => {
            let index = most_common_invalid(kind, answers);
            decision(
                Outcome::Follow {
                    status: Status::Invalid,
                    index,
                },
                Reason::Majority,
                tally,
            )
        }
        _ if tally.invalid > 0 => decision(Outcome::Syncing, Reason::InvalidDissent, tally),
        Status::Syncing => decision(Outcome::Syncing, Reason::Majority, tally),
        status => {
            let index = answers
                .iter()
                .position(|a| {
                    matches!(a, Answer::Status { status: s, .. } if category(kind, *s) == status)
                })
                .unwrap_or(0);
            decision(Outcome::Follow { status, index }, Reason::Majority, tally)
        }
    }
}

/// Index of the INVALID answer whose (latestValidHash, validationError) pair is the most common
/// among INVALID answers; the earliest such answer on a tie.
fn most_common_invalid(kind: Kind, answers: &[Answer<'_>]) -> usize {
    let invalid: Vec<(usize, Option<&str>, Option<&str>)> = answers
        .iter()
        .enumerate()
        .filter_map(|(i, a)| match *a {
            Answer::Status {
                status,
                latest_valid_hash,
                validation_error,
            } if category(kind, status) == Status::Invalid => {
                Some((i, latest_valid_hash, validation_error))
            }
            _ => None,
        })
        .collect();
    let mut best = (0usize, usize::MAX);
    for (i, lvh, err) in &invalid {
        let same = invalid
            .iter()
            .filter(|(_, l, e)| l == lvh && e == err)
            .count();
        if same > best.0 {
            best = (same, *i);
        }
    }
    if best.1 == usize::MAX {
        0
    } else {
        best.1
    }
}

/// A PayloadStatus a voter's answer carried, as the proxy received it.
#[derive(Clone, Copy, Debug)]
pub struct Seen<'a> {
    pub node: &'a str,
    /// The block the call was about (lower-case hex), when known.
    pub block: Option<&'a str>,
    pub status: Status,
    /// Arrived after the CL got its answer.
    pub late: bool,
}

pub type SeenFn = fn(&Seen<'_>);

#[cfg(test)]
mod tests;
