//! `--vote-by client`: votes counted by client implementation rather than by process.
//!
//! Two geth processes share geth's bugs, so with `--vote-by node` they outvote one Nethermind
//! on a block that only geth gets wrong. With `--vote-by client` the answers are first grouped
//! by the client code each EL reports (`engine_getClientVersionV1`, asked by the probe); an EL
//! that has not reported one is a group of its own. A group's ballot is:
//!
//! - `INVALID` when any member says INVALID (or INVALID_BLOCK_HASH): one process of an
//!   implementation seeing the block as invalid is enough to stop it;
//! - else `VALID` when any member says VALID;
//! - else the first member's SYNCING or ACCEPTED, set aside as catching up only when every
//!   member saying it is catching up;
//! - else the first member's JSON-RPC error, else no answer.
//!
//! Then the usual vote ([`crate::vote::decide_ballots`], rules 1–10) runs over the groups, so a
//! lone INVALID is never outvoted, and `--min-valid` counts implementations. The decision's
//! indices point back at the member whose answer the group carried.

use crate::vote::{Answer, Ballot, Decision, Kind, Outcome, Rules, Status, VoteFn};

/// One group's ballot and the voter it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group<'a> {
    pub ballot: Ballot<'a>,
    /// Index, among the voters, of the member whose answer the group carries.
    pub from: usize,
}

/// Groups `ballots` by `clients[i]` (the voter's client code; `None`: a group of its own), in
/// the order each group's first member appears.
pub fn group<'a>(kind: Kind, ballots: &[Ballot<'a>], clients: &[Option<&str>]) -> Vec<Group<'a>> {
    let mut keys: Vec<Option<&str>> = Vec::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    for (i, _) in ballots.iter().enumerate() {
        let code = clients.get(i).copied().flatten();
        match code.and_then(|c| keys.iter().position(|k| *k == Some(c))) {
            Some(g) => members[g].push(i),
            None => {
                keys.push(code);
                members.push(vec![i]);
            }
        }
    }
    members
        .iter()
        .map(|m| group_ballot(kind, ballots, m))
        .collect()
}

fn group_ballot<'a>(kind: Kind, ballots: &[Ballot<'a>], members: &[usize]) -> Group<'a> {
    let status_of = |i: usize| match ballots[i].answer {
        Answer::Status { status, .. } => Some(kind.category(status)),
        _ => None,
    };
    let first = |want: &dyn Fn(usize) -> bool| members.iter().copied().find(|&i| want(i));
    if let Some(i) = first(&|i| status_of(i) == Some(Status::Invalid)) {
        return Group {
            ballot: Ballot::of(ballots[i].answer),
            from: i,
        };
    }
    if let Some(i) = first(&|i| status_of(i) == Some(Status::Valid)) {
        return Group {
            ballot: Ballot::of(ballots[i].answer),
            from: i,
        };
    }
    let unsure = |i: usize| matches!(status_of(i), Some(Status::Syncing | Status::Accepted));
    if let Some(i) = first(&unsure) {
        let all_catching_up = members
            .iter()
            .filter(|&&m| unsure(m))
            .all(|&m| ballots[m].catching_up);
        // A member that knows (not catching up) speaks for the group.
        let from = first(&|m| unsure(m) && !ballots[m].catching_up).unwrap_or(i);
        return Group {
            ballot: Ballot {
                answer: ballots[from].answer,
                catching_up: all_catching_up,
            },
            from,
        };
    }
    let from = first(&|i| matches!(ballots[i].answer, Answer::Error { .. })).unwrap_or(members[0]);
    Group {
        ballot: Ballot::of(ballots[from].answer),
        from,
    }
}

/// The vote over implementation groups; indices in the decision point at voters.
pub fn decide(
    vote: VoteFn,
    kind: Kind,
    ballots: &[Ballot<'_>],
    clients: &[Option<&str>],
    rules: &Rules,
) -> Decision {
    let groups = group(kind, ballots, clients);
    let group_ballots: Vec<Ballot<'_>> = groups.iter().map(|g| g.ballot).collect();
    let mut d = vote(kind, &group_ballots, rules);
    d.outcome = match d.outcome {
        Outcome::Follow { status, index } => Outcome::Follow {
            status,
            index: groups[index].from,
        },
        Outcome::Error { index } => Outcome::Error {
            index: groups[index].from,
        },
        Outcome::Syncing => Outcome::Syncing,
    };
    // Members of one implementation that disagree among themselves are a disagreement too.
    let answered: Vec<Result<Status, i64>> = ballots
        .iter()
        .filter_map(|b| match b.answer {
            Answer::Status { status, .. } => Some(Ok(kind.category(status))),
            Answer::Error { code } => Some(Err(code)),
            Answer::NoAnswer => None,
        })
        .collect();
    d.disagreement |= answered.windows(2).any(|w| w[0] != w[1]);
    // Dissent is by node: each member's own answer against the most common one.
    d.agreed = crate::vote::agreed(kind, ballots.iter().map(|b| b.answer), d.disagreement);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vote::decide_ballots;

    const CHOICES: [(Answer<'static>, bool); 6] = [
        (
            Answer::Status {
                status: Status::Valid,
                latest_valid_hash: None,
                validation_error: None,
            },
            false,
        ),
        (
            Answer::Status {
                status: Status::Invalid,
                latest_valid_hash: None,
                validation_error: None,
            },
            false,
        ),
        (
            Answer::Status {
                status: Status::Syncing,
                latest_valid_hash: None,
                validation_error: None,
            },
            false,
        ),
        (
            Answer::Status {
                status: Status::Syncing,
                latest_valid_hash: None,
                validation_error: None,
            },
            true,
        ),
        (Answer::Error { code: -32000 }, false),
        (Answer::NoAnswer, false),
    ];

    /// Every way to split `n` voters into implementations (restricted growth strings), with
    /// the last group optionally unknown (no client code).
    fn partitions(n: usize) -> Vec<Vec<Option<&'static str>>> {
        const CODES: [&str; 5] = ["GE", "NM", "BU", "EG", "RH"];
        fn grow(prefix: Vec<usize>, n: usize, out: &mut Vec<Vec<usize>>) {
            if prefix.len() == n {
                out.push(prefix);
                return;
            }
            let max = prefix.iter().copied().max().map_or(0, |m| m + 1);
            for g in 0..=max {
                let mut p = prefix.clone();
                p.push(g);
                grow(p, n, out);
            }
        }
        let mut rgs = Vec::new();
        grow(Vec::new(), n, &mut rgs);
        let mut out = Vec::new();
        for p in rgs {
            out.push(p.iter().map(|&g| Some(CODES[g])).collect());
            // The first voter reported no client code.
            let mut unknown: Vec<Option<&str>> = p.iter().map(|&g| Some(CODES[g])).collect();
            unknown[0] = None;
            out.push(unknown);
        }
        out
    }

    fn each_sequence(n: usize, mut f: impl FnMut(&[Ballot<'static>])) {
        let mut idx = vec![0usize; n];
        loop {
            let ballots: Vec<Ballot<'static>> = idx
                .iter()
                .map(|&i| Ballot {
                    answer: CHOICES[i].0,
                    catching_up: CHOICES[i].1,
                })
                .collect();
            f(&ballots);
            let mut k = 0;
            loop {
                if k == n {
                    return;
                }
                idx[k] += 1;
                if idx[k] < CHOICES.len() {
                    break;
                }
                idx[k] = 0;
                k += 1;
            }
        }
    }

    /// Over every sequence of up to five answers and every split into implementations: an
    /// INVALID in time is never answered VALID or ACCEPTED; a VALID answer needs a VALID voter
    /// and is that voter's; the decision never points outside the voters; and grouping every
    /// voter alone is exactly the node vote.
    #[test]
    fn exhaustive_invariants_up_to_five_nodes() {
        let mut cases = 0u64;
        for n in 1..=5 {
            let splits = partitions(n);
            each_sequence(n, |ballots| {
                for majority in [0.5, 0.67] {
                    let rules = Rules::majority(majority);
                    for clients in &splits {
                        cases += 1;
                        let d = decide(decide_ballots, Kind::NewPayload, ballots, clients, &rules);
                        let any_invalid = ballots.iter().any(|b| {
                            matches!(
                                b.answer,
                                Answer::Status {
                                    status: Status::Invalid,
                                    ..
                                }
                            )
                        });
                        match d.outcome {
                            Outcome::Follow { status, index } => {
                                assert!(index < ballots.len());
                                assert!(
                                    !(any_invalid
                                        && matches!(status, Status::Valid | Status::Accepted)),
                                    "INVALID outvoted: {ballots:?} {clients:?} -> {d:?}"
                                );
                                assert!(matches!(
                                    ballots[index].answer,
                                    Answer::Status { status: s, .. } if s == status
                                ));
                            }
                            Outcome::Error { index } => {
                                assert!(matches!(ballots[index].answer, Answer::Error { .. }))
                            }
                            Outcome::Syncing => {}
                        }
                    }
                    let alone: Vec<Option<&str>> = vec![None; ballots.len()];
                    let grouped = decide(decide_ballots, Kind::NewPayload, ballots, &alone, &rules);
                    let plain = decide_ballots(Kind::NewPayload, ballots, &rules);
                    assert_eq!(grouped.outcome, plain.outcome, "{ballots:?}");
                    assert_eq!(grouped.reason, plain.reason, "{ballots:?}");
                }
            });
        }
        assert!(cases > 1_000_000, "{cases}");
    }

    fn show(a: &Answer<'_>, catching_up: bool) -> String {
        let s = match a {
            Answer::Status { status, .. } => status.as_str().to_owned(),
            Answer::Error { code } => format!("error {code}"),
            Answer::NoAnswer => "-".to_owned(),
        };
        if catching_up {
            format!("{s} (catching up)")
        } else {
            s
        }
    }

    /// Every sequence of three answers (VALID, INVALID, SYNCING, none) under every split of three
    /// nodes into implementations, majority 0.6: what the CL is told, by node and by client.
    #[test]
    fn table_of_three_nodes_every_split() {
        let answers = [
            ("V", Answer::status(Status::Valid)),
            ("I", Answer::status(Status::Invalid)),
            ("S", Answer::status(Status::Syncing)),
            ("-", Answer::NoAnswer),
        ];
        let splits: [(&str, [&str; 3]); 5] = [
            ("AAA", ["GE", "GE", "GE"]),
            ("AAB", ["GE", "GE", "NM"]),
            ("ABA", ["GE", "NM", "GE"]),
            ("ABB", ["GE", "NM", "NM"]),
            ("ABC", ["GE", "NM", "BU"]),
        ];
        let rules = Rules::majority(0.6);
        let short = |d: &Decision| match d.outcome {
            Outcome::Follow { status, .. } => status.as_str().to_owned(),
            Outcome::Syncing => "SYNCING".to_owned(),
            Outcome::Error { .. } => "error".to_owned(),
        };
        let mut table = String::from(
            "| answers | by node | AAA | AAB | ABA | ABB | ABC |\n|---|---|---|---|---|---|---|\n",
        );
        for a in &answers {
            for b in &answers {
                for c in &answers {
                    let ballots = [Ballot::of(a.1), Ballot::of(b.1), Ballot::of(c.1)];
                    let by_node = decide_ballots(Kind::NewPayload, &ballots, &rules);
                    let mut row = format!("| {} {} {} | {} |", a.0, b.0, c.0, short(&by_node));
                    for (_, codes) in &splits {
                        let clients: Vec<Option<&str>> = codes.iter().map(|c| Some(*c)).collect();
                        let d =
                            decide(decide_ballots, Kind::NewPayload, &ballots, &clients, &rules);
                        row.push_str(&format!(" {} |", short(&d)));
                    }
                    table.push_str(&row);
                    table.push('\n');
                }
            }
        }
        insta::assert_snapshot!(table);
    }

    /// Named cases, by node and by client, side by side.
    #[test]
    fn table_by_node_and_by_client() {
        let v = Answer::status(Status::Valid);
        let i = Answer::status(Status::Invalid);
        let s = Answer::status(Status::Syncing);
        type Voter = (&'static str, Answer<'static>, bool);
        let cases: Vec<(&str, Vec<Voter>)> = vec![
            (
                "two geths VALID, one nethermind SYNCING",
                vec![("GE", v, false), ("GE", v, false), ("NM", s, false)],
            ),
            (
                "two geths VALID, one nethermind INVALID",
                vec![("GE", v, false), ("GE", v, false), ("NM", i, false)],
            ),
            (
                "one geth of two INVALID, besu VALID",
                vec![("GE", v, false), ("GE", i, false), ("BU", v, false)],
            ),
            (
                "geth VALID, geth SYNCING, nethermind VALID",
                vec![("GE", v, false), ("GE", s, false), ("NM", v, false)],
            ),
            (
                "geth VALID, nethermind catching up",
                vec![("GE", v, false), ("NM", s, true)],
            ),
            (
                "three geths VALID, reth and besu SYNCING",
                vec![
                    ("GE", v, false),
                    ("GE", v, false),
                    ("GE", v, false),
                    ("RH", s, false),
                    ("BU", s, false),
                ],
            ),
        ];
        let mut table =
            String::from("| case | answers | by node | by client |\n|---|---|---|---|\n");
        for (name, voters) in cases {
            let ballots: Vec<Ballot<'static>> = voters
                .iter()
                .map(|(_, a, c)| Ballot {
                    answer: *a,
                    catching_up: *c,
                })
                .collect();
            let clients: Vec<Option<&str>> = voters.iter().map(|(c, _, _)| Some(*c)).collect();
            let rules = Rules::majority(0.5);
            let by_node = decide_ballots(Kind::NewPayload, &ballots, &rules);
            let by_client = decide(decide_ballots, Kind::NewPayload, &ballots, &clients, &rules);
            let outcome = |d: &Decision| match d.outcome {
                Outcome::Follow { status, .. } => format!("{status} ({})", d.reason.as_str()),
                Outcome::Syncing => format!("SYNCING ({})", d.reason.as_str()),
                Outcome::Error { .. } => format!("error ({})", d.reason.as_str()),
            };
            let answers: Vec<String> = voters
                .iter()
                .map(|(c, a, cu)| format!("{c}: {}", show(a, *cu)))
                .collect();
            table.push_str(&format!(
                "| {name} | {} | {} | {} |\n",
                answers.join(", "),
                outcome(&by_node),
                outcome(&by_client)
            ));
        }
        insta::assert_snapshot!(table);
    }
}
