use super::*;

/// The seven things an EL can do in response to a voted call.
const OUTCOMES: [(&str, Answer<'static>); 7] = [
    (
        "VALID",
        Answer::Status {
            status: Status::Valid,
            latest_valid_hash: Some("0xb1"),
            validation_error: None,
        },
    ),
    (
        "INVALID",
        Answer::Status {
            status: Status::Invalid,
            latest_valid_hash: Some("0xa0"),
            validation_error: Some("bad"),
        },
    ),
    (
        "INVALID_BLOCK_HASH",
        Answer::Status {
            status: Status::InvalidBlockHash,
            latest_valid_hash: None,
            validation_error: None,
        },
    ),
    (
        "SYNCING",
        Answer::Status {
            status: Status::Syncing,
            latest_valid_hash: None,
            validation_error: None,
        },
    ),
    (
        "ACCEPTED",
        Answer::Status {
            status: Status::Accepted,
            latest_valid_hash: None,
            validation_error: None,
        },
    ),
    ("timeout", Answer::NoAnswer),
    ("error", Answer::Error { code: -38003 }),
];

const MAJORITIES: [f64; 3] = [0.5, 0.6, 1.0];

/// Every multiset of up to `max` outcomes, as sorted index lists.
fn multisets(max: usize) -> Vec<Vec<usize>> {
    fn grow(start: usize, left: usize, cur: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        out.push(cur.clone());
        if left == 0 {
            return;
        }
        for i in start..OUTCOMES.len() {
            cur.push(i);
            grow(i, left - 1, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    grow(0, max, &mut Vec::new(), &mut out);
    out.sort_by_key(|v| (v.len(), v.clone()));
    out
}

/// Every ordered sequence of up to `max` outcomes.
fn sequences(max: usize) -> Vec<Vec<usize>> {
    let mut out = vec![vec![]];
    let mut frontier = vec![vec![]];
    for _ in 0..max {
        let mut next = Vec::new();
        for seq in &frontier {
            for i in 0..OUTCOMES.len() {
                let mut s: Vec<usize> = seq.clone();
                s.push(i);
                next.push(s);
            }
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out
}

fn answers(seq: &[usize]) -> Vec<Answer<'static>> {
    seq.iter().map(|&i| OUTCOMES[i].1).collect()
}

fn describe(kind: Kind, answers: &[Answer<'_>], d: &Decision) -> String {
    match d.outcome {
        Outcome::Follow { status, index } => {
            let from = match answers[index] {
                Answer::Status { status, .. } => status.as_str(),
                _ => "?",
            };
            let _ = kind;
            format!("{status} (from #{index} {from})")
        }
        Outcome::Syncing => "SYNCING".to_string(),
        Outcome::Error { index } => format!("error of #{index}"),
    }
}

fn table(kind: Kind) -> String {
    let mut out = String::new();
    for majority in MAJORITIES {
        out.push_str(&format!("## majority {majority}\n"));
        for set in multisets(5) {
            let a = answers(&set);
            let d = decide(kind, &a, majority);
            let names: Vec<&str> = set.iter().map(|&i| OUTCOMES[i].0).collect();
            out.push_str(&format!(
                "[{}] n={} thr={} -> {} | {}{}\n",
                names.join(", "),
                d.tally.votes(),
                d.tally.threshold,
                describe(kind, &a, &d),
                d.reason.as_str(),
                if d.disagreement {
                    " | disagreement"
                } else {
                    ""
                },
            ));
        }
    }
    out
}

#[test]
fn decision_table_new_payload() {
    insta::assert_snapshot!(table(Kind::NewPayload));
}

#[test]
fn decision_table_forkchoice_updated() {
    insta::assert_snapshot!(table(Kind::ForkchoiceUpdated));
}

/// The safety properties, checked on every ordered sequence of up to 5 answers, for every
/// majority setting and both call kinds.
#[test]
fn invariants_hold_for_every_sequence() {
    let seqs = sequences(5);
    assert_eq!(seqs.len(), 1 + 7 + 49 + 343 + 2401 + 16807);
    for kind in [Kind::NewPayload, Kind::ForkchoiceUpdated] {
        for majority in MAJORITIES.into_iter().chain([0.01, 0.34, 0.75, 0.99]) {
            for seq in &seqs {
                let a = answers(seq);
                let d = decide(kind, &a, majority);
                let count = |f: &dyn Fn(Status) -> bool| {
                    a.iter()
                        .filter(|x| matches!(x, Answer::Status { status, .. } if f(*status)))
                        .count()
                };
                let invalid = count(&|s| matches!(s, Status::Invalid | Status::InvalidBlockHash));
                let votes = count(&|_| true);
                let ctx = format!("{kind:?} {majority} {seq:?} -> {d:?}");
                check_dissent(kind, &a, &d, &ctx);
                match d.outcome {
                    Outcome::Follow { status, index } => {
                        // Never VALID or ACCEPTED when any EL said INVALID.
                        if status != Status::Invalid {
                            assert_eq!(invalid, 0, "{ctx}");
                        }
                        // Never INVALID without an INVALID majority.
                        if status == Status::Invalid {
                            assert!(invalid >= threshold(votes, majority), "{ctx}");
                            let others = [
                                count(&|s| category(kind, s) == Status::Valid),
                                count(&|s| category(kind, s) == Status::Syncing),
                                count(&|s| category(kind, s) == Status::Accepted),
                            ];
                            assert!(others.iter().all(|o| invalid > *o), "{ctx}");
                        }
                        // ACCEPTED is never an fcU answer.
                        if kind == Kind::ForkchoiceUpdated {
                            assert_ne!(status, Status::Accepted, "{ctx}");
                        }
                        // The forwarded answer really has that status.
                        let Answer::Status { status: s, .. } = a[index] else {
                            panic!("{ctx}: follows a non-status")
                        };
                        assert_eq!(category(kind, s), status, "{ctx}");
                    }
                    Outcome::Error { index } => {
                        assert_eq!(votes, 0, "{ctx}");
                        assert!(matches!(a[index], Answer::Error { .. }), "{ctx}");
                    }
                    Outcome::Syncing => {}
                }
                // Order of arrival never changes the status decided.
                let mut sorted = seq.clone();
                sorted.sort_unstable();
                let d2 = decide(kind, &answers(&sorted), majority);
                assert_eq!(status_of(&d), status_of(&d2), "{ctx} vs sorted");
                assert_eq!(d.reason, d2.reason, "{ctx}");
            }
        }
    }
}

/// Dissent is part of the decision: in a disagreement, exactly the statuses outside one most
/// common category (so one INVALID among VALIDs, or one VALID among INVALIDs, is always named);
/// never an error or a missing answer; nobody without a disagreement.
fn check_dissent(kind: Kind, answers: &[Answer<'_>], d: &Decision, ctx: &str) {
    let cats: Vec<Option<Status>> = answers
        .iter()
        .map(|a| match a {
            Answer::Status { status, .. } => Some(category(kind, *status)),
            _ => None,
        })
        .collect();
    let dissent: Vec<usize> = (0..answers.len())
        .filter(|i| d.dissents(kind, &answers[*i]))
        .collect();
    let count = |c: Status| cats.iter().filter(|s| **s == Some(c)).count();
    let distinct = [
        Status::Valid,
        Status::Invalid,
        Status::Syncing,
        Status::Accepted,
    ]
    .into_iter()
    .filter(|c| count(*c) > 0)
    .count();
    if !d.disagreement || distinct <= 1 {
        assert!(dissent.is_empty(), "{ctx}: dissent without two statuses");
        return;
    }
    assert!(
        !dissent.is_empty(),
        "{ctx}: two statuses and nobody dissents"
    );
    for &i in &dissent {
        assert!(
            cats[i].is_some(),
            "{ctx}: an error or no answer named as dissent"
        );
    }
    let agreed: Vec<Status> = (0..cats.len())
        .filter(|i| !dissent.contains(i))
        .filter_map(|i| cats[i])
        .collect();
    let Some(&majority) = agreed.first() else {
        panic!("{ctx}: everyone dissents");
    };
    assert_eq!(d.agreed, Some(majority), "{ctx}");
    assert!(
        agreed.iter().all(|s| *s == majority),
        "{ctx}: two categories agreed"
    );
    for &i in &dissent {
        let dissenting = cats[i].unwrap_or(majority);
        assert_ne!(dissenting, majority, "{ctx}");
        assert!(
            count(majority) >= count(dissenting),
            "{ctx}: the agreed one is not the most common"
        );
    }
}

fn status_of(d: &Decision) -> Option<Status> {
    match d.outcome {
        Outcome::Follow { status, .. } => Some(status),
        Outcome::Syncing => Some(Status::Syncing),
        Outcome::Error { .. } => None,
    }
}

#[test]
fn holesky_one_invalid_among_valids_is_syncing() {
    let mut a = vec![Answer::status(Status::Valid); 4];
    a.push(Answer::status(Status::Invalid));
    for majority in [0.5, 0.6, 0.8, 1.0] {
        let d = decide(Kind::NewPayload, &a, majority);
        assert_eq!(d.outcome, Outcome::Syncing);
        // With majority 1.0 four VALIDs are not even a majority; below that, the INVALID vetoes.
        let want = if majority == 1.0 {
            Reason::NoMajority
        } else {
            Reason::InvalidDissent
        };
        assert_eq!(d.reason, want);
        assert!(d.disagreement);
    }
}

#[test]
fn invalid_majority_reports_the_most_common_ancestor() {
    let inv = |lvh, err| Answer::Status {
        status: Status::Invalid,
        latest_valid_hash: Some(lvh),
        validation_error: Some(err),
    };
    let a = [
        Answer::status(Status::Valid),
        inv("0x01", "gas"),
        inv("0x02", "root"),
        inv("0x02", "root"),
        Answer::NoAnswer,
    ];
    let d = decide(Kind::NewPayload, &a, 0.6);
    // n = 4, threshold = round(2.4) = 2, INVALID has 3.
    assert_eq!(d.tally.threshold, 2);
    assert_eq!(
        d.outcome,
        Outcome::Follow {
            status: Status::Invalid,
            index: 2
        }
    );
}

#[test]
fn thresholds_round_half_away_from_zero() {
    assert_eq!(threshold(1, 0.6), 1);
    assert_eq!(threshold(2, 0.6), 1);
    assert_eq!(threshold(3, 0.6), 2);
    assert_eq!(threshold(3, 0.5), 2);
    assert_eq!(threshold(5, 0.5), 3);
    assert_eq!(threshold(5, 0.6), 3);
    assert_eq!(threshold(5, 1.0), 5);
    assert_eq!(threshold(1, 0.01), 1);
}

#[test]
fn errors_only() {
    let same = [
        Answer::Error { code: -38003 },
        Answer::NoAnswer,
        Answer::Error { code: -38003 },
    ];
    let d = decide(Kind::ForkchoiceUpdated, &same, 0.6);
    assert_eq!(
        (d.outcome, d.reason, d.disagreement),
        (Outcome::Error { index: 0 }, Reason::SameError, false)
    );
    let differ = [
        Answer::Error { code: -38003 },
        Answer::Error { code: -32602 },
    ];
    let d = decide(Kind::ForkchoiceUpdated, &differ, 0.6);
    assert_eq!(
        (d.outcome, d.reason, d.disagreement),
        (Outcome::Syncing, Reason::NoAnswers, true)
    );
    let none = [Answer::NoAnswer; 3];
    let d = decide(Kind::NewPayload, &none, 0.6);
    assert_eq!(
        (d.outcome, d.reason, d.disagreement),
        (Outcome::Syncing, Reason::NoAnswers, false)
    );
    let d = decide(Kind::NewPayload, &[], 0.6);
    assert_eq!(d.outcome, Outcome::Syncing);
}

#[test]
fn ties_are_never_a_majority() {
    let a = [
        Answer::status(Status::Valid),
        Answer::status(Status::Syncing),
    ];
    let d = decide(Kind::NewPayload, &a, 0.5);
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Syncing, Reason::NoMajority)
    );
}

#[test]
fn accepted_majority_for_new_payload_only() {
    let a = [
        Answer::status(Status::Accepted),
        Answer::status(Status::Accepted),
        Answer::status(Status::Valid),
    ];
    assert_eq!(
        decide(Kind::NewPayload, &a, 0.6).outcome,
        Outcome::Follow {
            status: Status::Accepted,
            index: 0
        }
    );
    assert_eq!(
        decide(Kind::ForkchoiceUpdated, &a, 0.6).outcome,
        Outcome::Syncing
    );
}

mod props {
    use super::*;
    use crate::proptest_cases as cases;
    use proptest::prelude::*;

    fn answer() -> impl Strategy<Value = usize> {
        0..OUTCOMES.len()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(5000), ..ProptestConfig::default() })]

        /// Beyond the exhaustive five: up to 15 nodes and any majority in (0, 1].
        #[test]
        fn safety_for_larger_sets(seq in proptest::collection::vec(answer(), 0..15), majority in 0.001f64..=1.0) {
            let a = answers(&seq);
            for kind in [Kind::NewPayload, Kind::ForkchoiceUpdated] {
                let d = decide(kind, &a, majority);
                let invalid = seq.iter().filter(|&&i| i == 1 || i == 2).count();
                let votes = seq.iter().filter(|&&i| i <= 4).count();
                match d.outcome {
                    Outcome::Follow { status: Status::Invalid, .. } => {
                        prop_assert!(invalid >= threshold(votes, majority));
                        // Strictly the most common category.
                        let others = [
                            seq.iter().filter(|&&i| i == 0).count(),
                            seq.iter().filter(|&&i| i == 3 || (i == 4 && kind == Kind::ForkchoiceUpdated)).count(),
                            seq.iter().filter(|&&i| i == 4 && kind == Kind::NewPayload).count(),
                        ];
                        prop_assert!(others.iter().all(|&o| invalid > o), "{:?}", seq);
                    }
                    Outcome::Follow { .. } => prop_assert_eq!(invalid, 0),
                    Outcome::Error { .. } => prop_assert_eq!(votes, 0),
                    Outcome::Syncing => {}
                }
            }
        }
    }
}

// ---- the proxy's vote: catching-up nodes, --min-valid, remembered INVALIDs --------------------

/// Every ordered sequence of up to `max` ballots: each of the seven outcomes, from a node that is
/// or is not catching up.
fn ballot_sequences(max: usize) -> Vec<Vec<(usize, bool)>> {
    let mut out = vec![vec![]];
    let mut frontier = vec![vec![]];
    for _ in 0..max {
        let mut next = Vec::new();
        for seq in &frontier {
            for i in 0..OUTCOMES.len() {
                for catching_up in [false, true] {
                    let mut s: Vec<(usize, bool)> = seq.clone();
                    s.push((i, catching_up));
                    next.push(s);
                }
            }
        }
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out
}

fn ballots(seq: &[(usize, bool)]) -> Vec<Ballot<'static>> {
    seq.iter()
        .map(|&(i, catching_up)| Ballot {
            answer: OUTCOMES[i].1,
            catching_up,
        })
        .collect()
}

/// The safety properties of rules 8-10, on every ordered sequence of up to 4 ballots (14
/// possibilities each), every majority, both kinds, `--min-valid` 1 to 3, with and without a
/// remembered INVALID.
#[test]
fn ballot_invariants_hold_for_every_sequence() {
    let seqs = ballot_sequences(4);
    assert_eq!(seqs.len(), 1 + 14 + 196 + 2744 + 38416);
    for kind in [Kind::NewPayload, Kind::ForkchoiceUpdated] {
        for majority in MAJORITIES {
            for min_valid in 1..=3 {
                for known_invalid in [false, true] {
                    let rules = Rules {
                        majority,
                        min_valid,
                        known_invalid,
                    };
                    for seq in &seqs {
                        check_ballots(kind, &rules, seq);
                    }
                }
            }
        }
    }
}

fn check_ballots(kind: Kind, rules: &Rules, seq: &[(usize, bool)]) {
    let b = ballots(seq);
    let d = decide_ballots(kind, &b, rules);
    let ctx = format!("{kind:?} {rules:?} {seq:?} -> {d:?}");
    let given: Vec<Answer<'_>> = b.iter().map(|b| b.answer).collect();
    check_dissent(kind, &given, &d, &ctx);
    let status = |i: usize| match OUTCOMES[i].1 {
        Answer::Status { status, .. } => Some(category(kind, status)),
        _ => None,
    };
    let any_invalid = seq.iter().any(|(i, _)| status(*i) == Some(Status::Invalid));
    let valid = seq
        .iter()
        .filter(|(i, _)| status(*i) == Some(Status::Valid))
        .count();
    let followed = match d.outcome {
        Outcome::Follow { status, .. } => Some(status),
        _ => None,
    };
    // Any INVALID, from a catching-up node too, is never outvoted into VALID or ACCEPTED.
    if any_invalid || rules.known_invalid {
        assert!(
            !matches!(followed, Some(Status::Valid | Status::Accepted)),
            "{ctx}"
        );
    }
    // VALID only with at least --min-valid VALID votes.
    if followed == Some(Status::Valid) {
        assert!(valid >= rules.min_valid, "{ctx}");
    }
    // A set-aside answer is exactly as if the node had not answered at all.
    let without: Vec<(usize, bool)> = seq
        .iter()
        .map(|&(i, c)| {
            let aside = c && matches!(status(i), Some(Status::Syncing | Status::Accepted));
            (if aside { 5 } else { i }, false)
        })
        .collect();
    let d2 = decide_ballots(kind, &ballots(&without), rules);
    assert_eq!(status_of(&d), status_of(&d2), "{ctx} vs {without:?}");
    // With nobody catching up and the default rules, it is the plain vote.
    if seq.iter().all(|(_, c)| !c) && rules.min_valid == 1 && !rules.known_invalid {
        let plain = decide(
            kind,
            &answers(&seq.iter().map(|(i, _)| *i).collect::<Vec<_>>()),
            rules.majority,
        );
        assert_eq!(d, plain, "{ctx}");
    }
}

/// The ballots table for up to three nodes (majority 0.6): what catching-up nodes and
/// `--min-valid 2` change.
fn ballot_table(kind: Kind) -> String {
    let mut out = String::new();
    for min_valid in [1, 2] {
        out.push_str(&format!("## min-valid {min_valid}\n"));
        let rules = Rules {
            majority: 0.6,
            min_valid,
            known_invalid: false,
        };
        for set in multisets(3) {
            for mask in 0..(1u32 << set.len()) {
                let seq: Vec<(usize, bool)> = set
                    .iter()
                    .enumerate()
                    .map(|(k, &i)| (i, mask & (1 << k) != 0))
                    .collect();
                if !seq.iter().any(|(_, c)| *c) && min_valid == 1 {
                    continue; // the plain table has these
                }
                let b = ballots(&seq);
                let d = decide_ballots(kind, &b, &rules);
                let names: Vec<String> = seq
                    .iter()
                    .map(|(i, c)| format!("{}{}", OUTCOMES[*i].0, if *c { "*" } else { "" }))
                    .collect();
                let a: Vec<Answer<'_>> = b.iter().map(|b| b.answer).collect();
                out.push_str(&format!(
                    "[{}] -> {} | {}\n",
                    names.join(", "),
                    describe(kind, &a, &d),
                    d.reason.as_str()
                ));
            }
        }
    }
    out
}

#[test]
fn ballot_table_new_payload() {
    insta::assert_snapshot!(ballot_table(Kind::NewPayload));
}

#[test]
fn ballot_table_forkchoice_updated() {
    insta::assert_snapshot!(ballot_table(Kind::ForkchoiceUpdated));
}

#[test]
fn two_els_one_catching_up() {
    let rules = Rules::majority(0.6);
    let valid = OUTCOMES[0].1;
    let syncing = OUTCOMES[3].1;
    let invalid = OUTCOMES[1].1;
    let behind = |answer| Ballot {
        answer,
        catching_up: true,
    };
    let d = decide_ballots(
        Kind::NewPayload,
        &[Ballot::of(valid), behind(syncing)],
        &rules,
    );
    assert_eq!(status_of(&d), Some(Status::Valid));
    let d = decide_ballots(
        Kind::NewPayload,
        &[Ballot::of(valid), behind(invalid)],
        &rules,
    );
    assert_eq!(d.outcome, Outcome::Syncing, "its INVALID counts");
    let strict = Rules {
        min_valid: 2,
        ..rules
    };
    let d = decide_ballots(
        Kind::NewPayload,
        &[Ballot::of(valid), behind(syncing)],
        &strict,
    );
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Syncing, Reason::TooFewValid)
    );
    let remembered = Rules {
        known_invalid: true,
        ..rules
    };
    let d = decide_ballots(
        Kind::NewPayload,
        &[Ballot::of(valid), Ballot::of(valid)],
        &remembered,
    );
    assert_eq!(
        (d.outcome, d.reason),
        (Outcome::Syncing, Reason::KnownInvalid)
    );
}
