//! Who is awaited for a voted call, and how long: a pure function of what is known so far.
//!
//! - A **healthy** node is awaited up to its own timeout (the lane measures it from when the
//!   request is written to the node, so time queued in the proxy is not charged to it).
//! - A **lagging** node is awaited only `grace` (at most a quarter of its own timeout) after the
//!   healthy nodes have all answered (after
//!   the start of the call when there are none); a **down** node (refused, or failing the
//!   probes) only until they have answered. Either one's answer counts if it is in by then.
//! - A healthy node still silent `check_after` past the latest answer (or the start, when
//!   nobody answered) is checked on the spot with a cheap engine call on a fresh connection. One
//!   that fails the check is from then on awaited like a lagging node, so a black-holed EL costs
//!   about the check, not its whole timeout. One that passes (merely slow at executing the
//!   block) is still awaited in full.
//! - Nobody is awaited past `answer_by`, the CL's own deadline for the method less a margin.

use std::time::Duration;

use tokio::time::Instant;

use crate::deadline::Deadline;

use crate::health::Voter;

/// The spot check of one node during one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Check {
    NotYet,
    Running,
    Passed,
    Failed,
}

/// What the waiter knows about one node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiting {
    /// How the node was to be awaited when the call was sent.
    pub voter: Voter,
    /// This node's own limit on the grace (a quarter of its timeout): a grace as long as the
    /// node's timeout would make lagging mean nothing.
    pub grace_cap: Duration,
    /// When its reply (or failure) came in.
    pub answered_at: Option<Instant>,
    pub check: Check,
}

impl Waiting {
    pub fn new(voter: Voter) -> Self {
        Self {
            voter,
            grace_cap: Duration::MAX,
            answered_at: None,
            check: Check::NotYet,
        }
    }

    /// Awaited up to its own timeout.
    fn in_full(&self) -> bool {
        self.voter == Voter::Healthy && self.check != Check::Failed
    }

    fn outstanding(&self) -> bool {
        self.answered_at.is_none()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long lagging nodes are awaited after the healthy ones answered.
    pub grace: Duration,
    /// How long a silent healthy node may trail the latest answer before it is checked.
    pub check_after: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Stop waiting and decide with the answers in hand.
    pub decide: bool,
    /// Start the spot check on these nodes now.
    pub check: Vec<usize>,
    /// When to look again if nothing arrives first.
    pub wake: Instant,
}

/// The plan at `now` for a call started at `started` that must be answered by `deadline`.
pub fn plan(
    now: Instant,
    started: Instant,
    deadline: Deadline,
    nodes: &[Waiting],
    policy: &Policy,
) -> Plan {
    let answer_by = deadline.instant();
    let done = |wake| Plan {
        decide: true,
        check: Vec::new(),
        wake,
    };
    if now >= answer_by || nodes.iter().all(|n| !n.outstanding()) {
        return done(now);
    }
    let mut wake = answer_by;
    // Checks: healthy, silent, unchecked, trailing the latest answer by `check_after`.
    let latest_answer = nodes
        .iter()
        .filter_map(|n| n.answered_at)
        .max()
        .unwrap_or(started)
        .max(started);
    let check_at = latest_answer + policy.check_after;
    let mut check = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        if n.in_full() && n.outstanding() && n.check == Check::NotYet {
            if now >= check_at {
                check.push(i);
            } else {
                wake = wake.min(check_at);
            }
        }
    }
    // The others: once every node awaited in full has answered, the rest get `grace`.
    let full_pending = nodes.iter().any(|n| n.in_full() && n.outstanding());
    if !full_pending {
        let others_done = nodes
            .iter()
            .filter(|n| n.in_full())
            .filter_map(|n| n.answered_at)
            .max()
            .unwrap_or(started)
            .max(started);
        let grace = nodes
            .iter()
            .filter(|n| !n.in_full() && n.outstanding() && n.voter != Voter::Down)
            .map(|n| policy.grace.min(n.grace_cap))
            .max()
            .unwrap_or(Duration::ZERO);
        let until = others_done + grace;
        if now >= until {
            return done(now);
        }
        wake = wake.min(until);
    }
    Plan {
        decide: false,
        check,
        wake,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        grace: Duration::from_millis(300),
        check_after: Duration::from_millis(300),
    };

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn answered(voter: Voter, at: Instant) -> Waiting {
        Waiting {
            answered_at: Some(at),
            ..Waiting::new(voter)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn everyone_answered_decides_at_once() {
        let t0 = Instant::now();
        let nodes = [
            answered(Voter::Healthy, t0 + ms(5)),
            answered(Voter::Lagging, t0 + ms(6)),
        ];
        let p = plan(t0 + ms(6), t0, Deadline::at(t0 + ms(7500)), &nodes, &POLICY);
        assert!(p.decide);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lagging_node_gets_the_grace_after_the_healthy_ones() {
        let t0 = Instant::now();
        let nodes = [
            answered(Voter::Healthy, t0 + ms(10)),
            answered(Voter::Healthy, t0 + ms(20)),
            Waiting::new(Voter::Lagging),
        ];
        let p = plan(
            t0 + ms(20),
            t0,
            Deadline::at(t0 + ms(7500)),
            &nodes,
            &POLICY,
        );
        assert!(!p.decide);
        assert!(p.check.is_empty(), "lagging nodes are not checked");
        assert_eq!(p.wake, t0 + ms(320));
        assert!(
            plan(
                t0 + ms(320),
                t0,
                Deadline::at(t0 + ms(7500)),
                &nodes,
                &POLICY
            )
            .decide
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_lagging_node_waits_with_a_slow_healthy_one() {
        let t0 = Instant::now();
        let nodes = [
            Waiting {
                check: Check::Passed,
                ..Waiting::new(Voter::Healthy)
            },
            Waiting::new(Voter::Down),
        ];
        let p = plan(
            t0 + ms(5000),
            t0,
            Deadline::at(t0 + ms(7500)),
            &nodes,
            &POLICY,
        );
        assert!(!p.decide);
        assert_eq!(p.wake, t0 + ms(7500));
        assert!(
            plan(
                t0 + ms(7500),
                t0,
                Deadline::at(t0 + ms(7500)),
                &nodes,
                &POLICY
            )
            .decide
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_healthy_node_is_checked_then_given_up_on_failure() {
        let t0 = Instant::now();
        let mut nodes = [
            answered(Voter::Healthy, t0 + ms(10)),
            Waiting::new(Voter::Healthy),
        ];
        let p = plan(
            t0 + ms(10),
            t0,
            Deadline::at(t0 + ms(7500)),
            &nodes,
            &POLICY,
        );
        assert_eq!((p.decide, p.wake), (false, t0 + ms(310)));
        let p = plan(
            t0 + ms(310),
            t0,
            Deadline::at(t0 + ms(7500)),
            &nodes,
            &POLICY,
        );
        assert_eq!(p.check, vec![1]);
        nodes[1].check = Check::Running;
        let p = plan(
            t0 + ms(310),
            t0,
            Deadline::at(t0 + ms(7500)),
            &nodes,
            &POLICY,
        );
        assert!(!p.decide && p.check.is_empty());
        assert_eq!(
            p.wake,
            t0 + ms(7500),
            "a running check is awaited, not re-sent"
        );
        // Passed: awaited in full.
        nodes[1].check = Check::Passed;
        assert!(
            !plan(
                t0 + ms(3000),
                t0,
                Deadline::at(t0 + ms(7500)),
                &nodes,
                &POLICY
            )
            .decide
        );
        // Failed: the grace after the others has long passed.
        nodes[1].check = Check::Failed;
        assert!(
            plan(
                t0 + ms(1060),
                t0,
                Deadline::at(t0 + ms(7500)),
                &nodes,
                &POLICY
            )
            .decide
        );
    }

    #[tokio::test(start_paused = true)]
    async fn nobody_answering_is_checked_from_the_start() {
        let t0 = Instant::now();
        let nodes = [Waiting::new(Voter::Healthy), Waiting::new(Voter::Healthy)];
        let p = plan(
            t0 + ms(300),
            t0,
            Deadline::at(t0 + ms(7500)),
            &nodes,
            &POLICY,
        );
        assert_eq!(p.check, vec![0, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn only_lagging_nodes_get_the_grace_from_the_start() {
        let t0 = Instant::now();
        let nodes = [Waiting::new(Voter::Lagging), Waiting::new(Voter::Down)];
        let p = plan(t0, t0, Deadline::at(t0 + ms(7500)), &nodes, &POLICY);
        assert_eq!((p.decide, p.wake), (false, t0 + ms(300)));
        assert!(
            plan(
                t0 + ms(300),
                t0,
                Deadline::at(t0 + ms(7500)),
                &nodes,
                &POLICY
            )
            .decide
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_grace_is_at_most_a_quarter_of_the_nodes_timeout() {
        let t0 = Instant::now();
        let nodes = [
            answered(Voter::Healthy, t0 + ms(10)),
            Waiting {
                grace_cap: ms(50),
                ..Waiting::new(Voter::Lagging)
            },
        ];
        let p = plan(
            t0 + ms(10),
            t0,
            Deadline::at(t0 + ms(7500)),
            &nodes,
            &POLICY,
        );
        assert_eq!(p.wake, t0 + ms(60));
    }

    #[tokio::test(start_paused = true)]
    async fn a_down_node_is_awaited_only_while_the_healthy_ones_are() {
        let t0 = Instant::now();
        let mut nodes = [Waiting::new(Voter::Healthy), Waiting::new(Voter::Down)];
        assert!(!plan(t0 + ms(5), t0, Deadline::at(t0 + ms(7500)), &nodes, &POLICY).decide);
        nodes[0].answered_at = Some(t0 + ms(20));
        assert!(
            plan(
                t0 + ms(20),
                t0,
                Deadline::at(t0 + ms(7500)),
                &nodes,
                &POLICY
            )
            .decide
        );
        // Every node down: answered at once.
        let all_down = [Waiting::new(Voter::Down), Waiting::new(Voter::Down)];
        assert!(plan(t0, t0, Deadline::at(t0 + ms(7500)), &all_down, &POLICY).decide);
    }

    #[tokio::test(start_paused = true)]
    async fn the_cl_deadline_ends_every_wait() {
        let t0 = Instant::now();
        let nodes = [Waiting {
            check: Check::Passed,
            ..Waiting::new(Voter::Healthy)
        }];
        assert!(
            plan(
                t0 + ms(900),
                t0,
                Deadline::at(t0 + ms(900)),
                &nodes,
                &POLICY
            )
            .decide
        );
    }

    /// Over many random situations: the plan never waits past `answer_by`, never waits for a
    /// non-healthy node more than `grace` after the healthy ones answered, and wakes in the future
    /// whenever it does not decide.
    #[tokio::test(start_paused = true)]
    async fn plans_are_bounded() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let t0 = Instant::now();
        let answer_by = t0 + ms(7500);
        for _ in 0..20_000 {
            let n = rng.gen_range(1..=5);
            let now = t0 + ms(rng.gen_range(0..8000));
            let nodes: Vec<Waiting> = (0..n)
                .map(|_| Waiting {
                    voter: [Voter::Healthy, Voter::Lagging, Voter::Down][rng.gen_range(0..3)],
                    answered_at: rng
                        .gen_bool(0.5)
                        .then(|| t0 + ms(rng.gen_range(0..8000)))
                        .filter(|t| *t <= now),
                    check: [Check::NotYet, Check::Running, Check::Passed, Check::Failed]
                        [rng.gen_range(0..4)],
                    grace_cap: ms(rng.gen_range(50..2000)),
                })
                .collect();
            let p = plan(now, t0, Deadline::at(answer_by), &nodes, &POLICY);
            if !p.decide {
                assert!(
                    p.wake > now || !p.check.is_empty(),
                    "{nodes:?} at {:?}",
                    now - t0
                );
                assert!(p.wake <= answer_by);
                let healthy_done = nodes
                    .iter()
                    .filter(|w| w.in_full())
                    .all(|w| w.answered_at.is_some());
                if healthy_done {
                    let last = nodes
                        .iter()
                        .filter(|w| w.in_full())
                        .filter_map(|w| w.answered_at)
                        .max()
                        .unwrap_or(t0);
                    assert!(now < last + POLICY.grace, "{nodes:?}");
                }
            }
        }
    }
}
