//! A deliberately wrong vote, to show that the invariants catch one.
//!
//! [`plain_majority`] is the real vote except that it follows a VALID majority even when some
//! node answered INVALID: the plain majority vote that, in the Holesky incident, would have
//! followed the client implementations that accepted an invalid block. Invariant 1 must catch
//! it as soon as a run has one INVALID answer against a VALID majority.

use executionbackup::vote::{self, Answer, Ballot, Decision, Kind, Outcome, Reason, Rules, Status};

/// The real vote, minus "any INVALID dissent makes it SYNCING".
pub fn plain_majority(kind: Kind, ballots: &[Ballot<'_>], rules: &Rules) -> Decision {
    let mut decision = vote::decide_ballots(kind, ballots, rules);
    let answers: Vec<Answer<'_>> = ballots.iter().map(|b| b.answer).collect();
    if decision.reason == Reason::InvalidDissent && decision.tally.valid >= decision.tally.threshold
    {
        let first_valid = answers
            .iter()
            .position(|a| matches!(a, Answer::Status { status, .. } if *status == Status::Valid));
        if let Some(index) = first_valid {
            decision.outcome = Outcome::Follow {
                status: Status::Valid,
                index,
            };
            decision.reason = Reason::Majority;
        }
    }
    decision
}
