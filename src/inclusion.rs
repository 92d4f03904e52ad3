//! Bogota (FOCIL, EIP-7805): `inclusionListSatisfied` in PayloadStatusV2, the answer of
//! `engine_newPayloadV6` and `engine_forkchoiceUpdatedV5`.
//!
//! The vote decides `status` ([`crate::vote`]); this decides the flag the CL is told with it. An
//! inclusion list one EL saw as violated is never reported satisfied: when the decision is VALID
//! and any VALID voter said `false`, the CL gets `false`, whatever the answer passed on said.
//! Otherwise the flag of the answer passed on stands (including `null`, and when no voter sent
//! the field at all, as before Bogota).

/// The flag to tell the CL. `decided_valid`: the vote's outcome is VALID. `followed`: the flag in
/// the answer passed on (`None`: the field was absent; `Some(None)`: `null`). `valid_voters`: the
/// flag of every counted voter that answered VALID, in node order.
pub fn satisfied(
    decided_valid: bool,
    followed: Option<Option<bool>>,
    valid_voters: impl IntoIterator<Item = Option<Option<bool>>>,
) -> Option<Option<bool>> {
    if decided_valid && valid_voters.into_iter().any(|f| f == Some(Some(false))) {
        Some(Some(false))
    } else {
        followed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FLAGS: [Option<Option<bool>>; 4] =
        [None, Some(None), Some(Some(true)), Some(Some(false))];

    /// Every voter list of up to four voters over the four flag values.
    fn voter_lists() -> Vec<Vec<Option<Option<bool>>>> {
        let mut all = vec![vec![]];
        let mut last = vec![vec![]];
        for _ in 0..4 {
            let mut next = Vec::new();
            for list in &last {
                for f in FLAGS {
                    let mut l: Vec<_> = list.clone();
                    l.push(f);
                    next.push(l);
                }
            }
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }

    #[test]
    fn exhaustive() {
        let lists = voter_lists();
        assert_eq!(lists.len(), 1 + 4 + 16 + 64 + 256);
        for decided_valid in [false, true] {
            for followed in FLAGS {
                for voters in &lists {
                    let out = satisfied(decided_valid, followed, voters.iter().copied());
                    let any_false = voters.contains(&Some(Some(false)));
                    // Never "satisfied" over a VALID voter's "violated".
                    if decided_valid && any_false {
                        assert_eq!(out, Some(Some(false)), "{followed:?} {voters:?}");
                    } else {
                        // Otherwise nothing is invented: the answer passed on stands.
                        assert_eq!(out, followed, "{decided_valid} {voters:?}");
                    }
                    // The outcome is one of the values someone sent.
                    assert!(out == followed || voters.contains(&out));
                }
            }
        }
    }

    #[test]
    fn true_false_true_is_false() {
        let t = Some(Some(true));
        let f = Some(Some(false));
        assert_eq!(satisfied(true, t, [t, f, t]), f);
        assert_eq!(satisfied(true, t, [t, t, t]), t);
        // Not VALID (SYNCING, INVALID): the answer passed on, untouched.
        assert_eq!(satisfied(false, None, [t, f, t]), None);
    }
}
