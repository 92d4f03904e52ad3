//! Pure merges of several ELs' answers into one, for the calls where the spec (or sense) says
//! the CL should see all of them: client versions, capabilities, blobs.

use serde_json::value::RawValue;

/// engine_getClientVersionV1: the flat concatenation of every answer's array (the spec's rule
/// for multiplexers). Answers that are not arrays are skipped.
pub fn concat_arrays(answers: &[&[u8]]) -> Vec<u8> {
    let mut all: Vec<&RawValue> = Vec::new();
    for answer in answers {
        if let Ok(list) = serde_json::from_slice::<Vec<&RawValue>>(answer) {
            all.extend(list);
        }
    }
    serde_json::to_vec(&all).unwrap_or_else(|_| b"[]".to_vec())
}

/// engine_exchangeCapabilities: the methods every answer lists, in the first answer's order.
/// Also returns the methods left out. Answers that are not string lists are skipped.
pub fn intersect_lists(answers: &[&[u8]]) -> Option<(Vec<String>, Vec<String>)> {
    let lists: Vec<Vec<String>> = answers
        .iter()
        .filter_map(|a| serde_json::from_slice::<Vec<String>>(a).ok())
        .collect();
    lists.first()?;
    let mut common = Vec::new();
    let mut dropped = Vec::new();
    for list in &lists {
        for method in list {
            let everywhere = lists.iter().all(|l| l.contains(method));
            let target = if everywhere {
                &mut common
            } else {
                &mut dropped
            };
            if !target.contains(method) {
                target.push(method.clone());
            }
        }
    }
    Some((common, dropped))
}

/// engine_getBlobsV1 and V3: one entry per requested hash; an entry any EL has is returned
/// (earlier answers win). V3 answers may be `null` as a whole (EL cannot serve at all).
/// Returns `null` when no answer was an array.
pub fn merge_per_index(answers: &[&[u8]]) -> Vec<u8> {
    let mut merged: Option<Vec<&RawValue>> = None;
    for answer in answers {
        let Ok(list) = serde_json::from_slice::<Option<Vec<&RawValue>>>(answer) else {
            continue;
        };
        let Some(list) = list else { continue };
        let m = merged.get_or_insert_with(Vec::new);
        for (i, item) in list.into_iter().enumerate() {
            match m.get_mut(i) {
                Some(slot) if slot.get() == "null" => *slot = item,
                Some(_) => {}
                None => m.push(item),
            }
        }
    }
    match merged {
        Some(list) => serde_json::to_vec(&list).unwrap_or_else(|_| b"null".to_vec()),
        None => b"null".to_vec(),
    }
}

/// Whether `answer` is an array with at least one `null` entry (payload bodies a node has
/// pruned or never had).
pub fn has_null_entry(answer: &[u8]) -> bool {
    serde_json::from_slice::<Vec<&RawValue>>(answer)
        .is_ok_and(|list| list.iter().any(|x| x.get() == "null"))
}

/// engine_hasBlobs (Prysm): one boolean per requested hash, true where any answer says true.
/// Answers that are not boolean arrays are skipped; `null` when none is.
pub fn any_true(answers: &[&[u8]]) -> Vec<u8> {
    let mut merged: Option<Vec<bool>> = None;
    for answer in answers {
        let Ok(list) = serde_json::from_slice::<Vec<bool>>(answer) else {
            continue;
        };
        let m = merged.get_or_insert_with(Vec::new);
        for (i, has) in list.into_iter().enumerate() {
            match m.get_mut(i) {
                Some(slot) => *slot |= has,
                None => m.push(has),
            }
        }
    }
    match merged {
        Some(list) => serde_json::to_vec(&list).unwrap_or_else(|_| b"null".to_vec()),
        None => b"null".to_vec(),
    }
}

/// engine_getBlobsV2 (all or nothing): the first answer that is a complete array without nulls,
/// else `null`.
pub fn first_complete(answers: &[&[u8]]) -> Vec<u8> {
    for answer in answers {
        if let Ok(Some(list)) = serde_json::from_slice::<Option<Vec<&RawValue>>>(answer) {
            if list.iter().all(|x| x.get() != "null") {
                return answer.to_vec();
            }
        }
    }
    b"null".to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).expect("utf8")
    }

    #[test]
    fn client_versions_concatenate() {
        let a = br#"[{"code":"GE","name":"geth"}]"#;
        let b = br#"[{"code":"NM","name":"nethermind"},{"code":"XX","name":"x"}]"#;
        let out = s(concat_arrays(&[a, b"oops", b]));
        insta::assert_snapshot!(out, @r#"[{"code":"GE","name":"geth"},{"code":"NM","name":"nethermind"},{"code":"XX","name":"x"}]"#);
    }

    #[test]
    fn capabilities_intersect() {
        let a = br#"["engine_newPayloadV3","engine_newPayloadV4","engine_getBlobsV1"]"#;
        let b = br#"["engine_getBlobsV1","engine_newPayloadV3"]"#;
        let (common, dropped) = intersect_lists(&[a, b]).expect("answers");
        assert_eq!(common, ["engine_newPayloadV3", "engine_getBlobsV1"]);
        assert_eq!(dropped, ["engine_newPayloadV4"]);
        assert!(intersect_lists(&[b"{}"]).is_none());
    }

    #[test]
    fn blobs_v1_merge_per_index() {
        let a = br#"[{"blob":"0x01"},null,null]"#;
        let b = br#"[null,{"blob":"0x02"},null]"#;
        insta::assert_snapshot!(s(merge_per_index(&[a, b])), @r#"[{"blob":"0x01"},{"blob":"0x02"},null]"#);
        assert_eq!(s(merge_per_index(&[b"null", b"null"])), "null");
        assert_eq!(
            s(merge_per_index(&[b"null", a])),
            r#"[{"blob":"0x01"},null,null]"#
        );
    }

    #[test]
    fn blobs_v4_cells_merge_per_blob() {
        let a = br#"[{"blobCells":["0xa0"],"proofs":["0xp0"]},null]"#;
        let b = br#"[null,{"blobCells":["0xb1"],"proofs":["0xp1"]}]"#;
        insta::assert_snapshot!(s(merge_per_index(&[a, b"null", b])), @r#"[{"blobCells":["0xa0"],"proofs":["0xp0"]},{"blobCells":["0xb1"],"proofs":["0xp1"]}]"#);
    }

    #[test]
    fn bodies_nulls_are_found_and_filled() {
        let a = br#"[{"transactions":[]},null]"#;
        let b = br#"[null,{"transactions":["0x01"],"blockAccessList":null}]"#;
        assert!(has_null_entry(a));
        assert!(!has_null_entry(br#"[{"transactions":[]}]"#));
        assert!(!has_null_entry(b"null"));
        let merged = merge_per_index(&[a, b]);
        assert!(!has_null_entry(&merged));
        insta::assert_snapshot!(s(merged), @r#"[{"transactions":[]},{"transactions":["0x01"],"blockAccessList":null}]"#);
    }

    #[test]
    fn has_blobs_ors() {
        assert_eq!(
            s(any_true(&[
                b"[true,false,false]",
                b"oops",
                b"[false,false,true]"
            ])),
            "[true,false,true]"
        );
        assert_eq!(s(any_true(&[b"[false]", b"[false,true]"])), "[false,true]");
        assert_eq!(s(any_true(&[b"null"])), "null");
    }

    #[test]
    fn blobs_v2_all_or_nothing() {
        let partial = br#"[{"blob":"0x01"},null]"#;
        let full = br#"[{"blob":"0x01"},{"blob":"0x02"}]"#;
        assert_eq!(s(first_complete(&[b"null", partial])), "null");
        assert_eq!(
            s(first_complete(&[b"null", partial, full])),
            s(full.to_vec())
        );
    }
}
