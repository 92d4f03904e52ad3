//! No import cycles between the modules of any crate of the workspace.
//!
//! The rule, read from the source text alone:
//!
//! * The modules of a crate root (`src/lib.rs`, `src/main.rs`) are the `mod NAME;` it declares;
//!   a module is its file (`src/NAME.rs` or `src/NAME/mod.rs`) together with all of its
//!   submodules (every file under `src/NAME/`, and inline `mod tests { … }`): a submodule is part
//!   of its top-level module, so a cycle is always between top-level modules.
//! * Module A uses module B when A's text names `crate::B` anywhere (a `use` line or a path in
//!   code; `crate::B::x::y` counts as a use of B, and so does `crate::{B, …}`), or names an item
//!   the crate root re-exports from B (`pub use B::Item;` in the root, then `crate::Item` in A),
//!   or, from a file in a folder, climbs out of A with `super::` to B.
//! * The crate root itself is not a module: its `mod` and `pub use` lines are not uses.
//! * Comments are skipped; text in string literals is not told apart (a false cycle would show
//!   up here as a failure to look at, never as a cycle missed).
//!
//! Each crate is its own `#[test]`, so a crate with cycles fails alone; the failure lists every
//! cycle as a path (`a -> b -> a`) with the line that makes each step.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The workspace root (this crate is `transport/`).
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("transport/ is inside the workspace")
        .to_path_buf()
}

/// Where a use was seen: file (relative to the workspace) and line.
type Evidence = (String, usize);

/// A crate root's module graph: module -> used module -> where first seen.
struct Graph {
    edges: BTreeMap<String, BTreeMap<String, Evidence>>,
}

/// The text of a file with `//` and `/* */` comments blanked (line structure kept).
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let c = bytes[i];
        if in_string {
            out.push(c as char);
            if c == b'\\' && i + 1 < bytes.len() {
                out.push(bytes[i + 1] as char);
                i += 2;
                continue;
            }
            if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        if c == b'r' && matches!(bytes.get(i + 1), Some(b'"' | b'#')) && !prev_ident(bytes, i) {
            // A raw string: copied as is up to its closing quote and hashes.
            let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
            if bytes.get(i + 1 + hashes) == Some(&b'"') {
                let close = format!("\"{}", "#".repeat(hashes));
                let body = i + 2 + hashes;
                let end = text[body..]
                    .find(&close)
                    .map_or(text.len(), |e| body + e + close.len());
                out.push_str(&text[i..end]);
                i = end;
                continue;
            }
            out.push('r');
            i += 1;
        } else if c == b'\''
            && (bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\'))
        {
            // A char literal ('"', '\n'): copied as is, so its quote opens no string.
            let len = if bytes.get(i + 1) == Some(&b'\\') {
                4
            } else {
                3
            };
            let end = (i + len).min(bytes.len());
            out.push_str(std::str::from_utf8(&bytes[i..end]).unwrap_or(" "));
            i = end;
        } else if c == b'"' {
            in_string = true;
            out.push('"');
            i += 1;
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                if bytes[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 2;
        } else {
            // Multi-byte UTF-8 is copied byte by byte below; only ASCII matters to the scan.
            let len = utf8_len(c);
            out.push_str(std::str::from_utf8(&bytes[i..i + len]).unwrap_or(" "));
            i += len;
        }
    }
    out
}

/// Whether the byte before `i` continues an identifier (so an `r` there starts no raw string).
fn prev_ident(bytes: &[u8], i: usize) -> bool {
    i > 0 && (bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The first path segment of each item of a `{a, b::c, D as E}` group (without the braces).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    let bytes = group.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        match c {
            b'{' => depth += 1,
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                heads.push(ident(group[start..i].trim()).to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    heads.push(ident(group[start..].trim()).to_owned());
    heads.retain(|h| !h.is_empty());
    heads
}

/// The balanced `{…}` starting at `s[0]`, without its braces.
fn braced(s: &str) -> &str {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &s[1..i];
                }
            }
            _ => {}
        }
    }
    &s[1..]
}

/// Every `(line, first segment after the prefix)` for paths starting with `prefix`
/// (`crate::` or `super::`…), groups expanded.
fn paths_after(text: &str, prefix: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(prefix) {
        let at = from + at;
        from = at + prefix.len();
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        let line = text[..at].matches('\n').count() + 1;
        let rest = &text[from..];
        if rest.starts_with('{') {
            for head in group_heads(braced(rest)) {
                found.push((line, head));
            }
        } else {
            let head = ident(rest);
            if !head.is_empty() {
                found.push((line, head.to_owned()));
            }
        }
    }
    found
}

/// `mod NAME;` declarations of a root file (not inline modules).
fn declared_modules(root_text: &str) -> Vec<String> {
    let mut modules = Vec::new();
    for line in root_text.lines() {
        let line = line.trim();
        let line = line.strip_prefix("pub ").unwrap_or(line);
        let line = line
            .strip_prefix("pub(crate) ")
            .unwrap_or(line)
            .trim_start();
        if let Some(rest) = line.strip_prefix("mod ") {
            let name = ident(rest.trim());
            if rest.trim()[name.len()..].trim_start().starts_with(';') {
                modules.push(name.to_owned());
            }
        }
    }
    modules
}

/// Items the root re-exports from its modules (`pub use m::{A, b::C};` → A and C from m).
fn reexports(root_text: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut items = BTreeMap::new();
    let mut from = 0;
    while let Some(at) = root_text[from..].find("pub use ") {
        let start = from + at + "pub use ".len();
        let end = root_text[start..]
            .find(';')
            .map_or(root_text.len(), |e| start + e);
        from = end;
        let stmt = root_text[start..end].trim();
        let stmt = stmt.strip_prefix("self::").unwrap_or(stmt);
        let module = ident(stmt);
        if !modules.contains(module) {
            continue;
        }
        // Every name the statement brings in: the last segment of each leaf, or its alias.
        let leaves = stmt.replace(['{', '}'], ",");
        for leaf in leaves.split(',') {
            let leaf = leaf.trim();
            let name = match leaf.split_once(" as ") {
                Some((_, alias)) => alias.trim(),
                None => leaf.rsplit("::").next().unwrap_or(leaf).trim(),
            };
            if !name.is_empty() && name != "*" && name != "self" && name != module {
                items.insert(name.to_owned(), module.to_owned());
            }
        }
    }
    items
}

/// Every `.rs` file of a module: its own file and everything in its folder.
fn module_files(src: &Path, name: &str) -> Vec<(PathBuf, usize)> {
    let mut files = Vec::new();
    let file = src.join(format!("{name}.rs"));
    if file.is_file() {
        files.push((file, 1));
    }
    let dir = src.join(name);
    if dir.is_dir() {
        collect(&dir, 1, &mut files);
    }
    files
}

/// `.rs` files under `dir`, with their module depth below the crate root (`a/b.rs`: 2,
/// `a/mod.rs`: 1).
fn collect(dir: &Path, depth: usize, out: &mut Vec<(PathBuf, usize)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read module folder")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect(&path, depth + 1, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let own = if path.file_name().is_some_and(|n| n == "mod.rs") {
                depth
            } else {
                depth + 1
            };
            out.push((path, own));
        }
    }
}

/// The module graph of one crate root (`src/lib.rs` or `src/main.rs` of `krate`).
fn graph(krate: &Path, root_file: &str) -> Graph {
    let src = krate.join("src");
    let root_text = strip_comments(&std::fs::read_to_string(src.join(root_file)).expect("root"));
    let modules: BTreeSet<String> = declared_modules(&root_text).into_iter().collect();
    let items = reexports(&root_text, &modules);
    let base = workspace();
    let mut edges: BTreeMap<String, BTreeMap<String, Evidence>> = BTreeMap::new();
    for module in &modules {
        let uses = edges.entry(module.clone()).or_default();
        for (file, depth) in module_files(&src, module) {
            let text = strip_comments(&std::fs::read_to_string(&file).expect("module file"));
            let shown = file
                .strip_prefix(&base)
                .unwrap_or(&file)
                .display()
                .to_string();
            let mut found = paths_after(&text, "crate::");
            // `super::` from a file at depth d climbs d - 1 levels before reaching the root's
            // modules: only a chain of `super::` as long as the depth leaves this module.
            if depth >= 2 {
                let climb = "super::".repeat(depth);
                found.extend(paths_after(&text, &climb));
            }
            for (line, head) in found {
                let target = if modules.contains(&head) {
                    head
                } else if let Some(owner) = items.get(&head) {
                    owner.clone()
                } else {
                    continue;
                };
                if &target != module {
                    uses.entry(target).or_insert_with(|| (shown.clone(), line));
                }
            }
        }
    }
    Graph { edges }
}

/// Every cycle of the graph, each the shortest one through one of its modules, without repeats
/// (a rotation of a cycle already listed is the same cycle).
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for start in g.edges.keys() {
        for first in g.edges[start].keys() {
            // Shortest path first -> start.
            let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = VecDeque::from([first.as_str()]);
            let mut reached = first == start;
            prev.insert(first, start);
            while let Some(at) = queue.pop_front() {
                if reached {
                    break;
                }
                for next in g.edges.get(at).into_iter().flat_map(|e| e.keys()) {
                    if prev.contains_key(next.as_str()) {
                        continue;
                    }
                    prev.insert(next, at);
                    if next == start {
                        reached = true;
                        break;
                    }
                    queue.push_back(next);
                }
            }
            if !reached {
                continue;
            }
            let mut path = vec![start.clone()];
            let mut at = start.as_str();
            loop {
                at = prev[at];
                if at == start {
                    break;
                }
                path.push(at.to_owned());
            }
            path.reverse();
            path.rotate_right(1);
            // path: start, first, …, (back to start)
            let min = path
                .iter()
                .enumerate()
                .min_by_key(|(_, m)| *m)
                .map_or(0, |(i, _)| i);
            let mut key = path.clone();
            key.rotate_left(min);
            if seen.insert(key.clone()) {
                out.push(key);
            }
        }
    }
    out
}

/// Checks one crate root; panics listing every cycle.
fn check(krate: &str, root_file: &str) {
    let dir = workspace().join(krate);
    let g = graph(&dir, root_file);
    assert!(
        !g.edges.is_empty(),
        "{krate}/src/{root_file} declares no modules: the checker read nothing"
    );
    let found = cycles(&g);
    if found.is_empty() {
        return;
    }
    let mut report = format!(
        "{} import cycle(s) between the modules of {krate}/src/{root_file}:\n",
        found.len()
    );
    for cycle in &found {
        let mut path = cycle.clone();
        path.push(cycle[0].clone());
        let _ = writeln!(report, "\n  {}", path.join(" -> "));
        for step in path.windows(2) {
            let (file, line) = &g.edges[&step[0]][&step[1]];
            let _ = writeln!(report, "    {} -> {}: {file}:{line}", step[0], step[1]);
        }
    }
    panic!("{report}");
}

#[test]
fn the_daemon_has_no_import_cycles() {
    check(".", "lib.rs");
}

#[test]
fn transport_has_no_import_cycles() {
    check("transport", "lib.rs");
}

#[test]
fn mock_el_has_no_import_cycles() {
    check("mock-el", "lib.rs");
}

#[test]
fn mock_cl_has_no_import_cycles() {
    check("mock-cl", "lib.rs");
}

#[test]
fn sim_has_no_import_cycles() {
    check("sim", "lib.rs");
}

#[test]
fn bench_has_no_import_cycles() {
    check("benches", "main.rs");
}

/// Every workspace member is one of the crates checked above (a new member needs its test).
#[test]
fn every_workspace_member_is_checked() {
    let manifest = std::fs::read_to_string(workspace().join("Cargo.toml")).expect("Cargo.toml");
    let members_line = manifest
        .lines()
        .find(|l| l.trim_start().starts_with("members"))
        .expect("a members line");
    let members: BTreeSet<&str> = members_line
        .split('"')
        .skip(1)
        .step_by(2)
        .map(|m| m.trim_end_matches('/'))
        .collect();
    let checked: BTreeSet<&str> = [".", "transport", "mock-el", "mock-cl", "sim", "benches"]
        .into_iter()
        .collect();
    assert_eq!(members, checked, "workspace members vs crates checked here");
}

/// The checker finds a cycle in a crate made for it, through a re-export, a group and `super`.
#[test]
fn a_cycle_is_found_and_shown_with_its_path() {
    let dir = std::env::temp_dir().join(format!("eb-cycles-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("c")).expect("dirs");
    let files = [
        (
            "lib.rs",
            "mod a;\npub mod b;\nmod c;\nmod d;\npub use b::{Thing, other::More};\n",
        ),
        (
            "a.rs",
            "use crate::{d, Thing};\n// crate::c is only a comment\n",
        ),
        (
            "b.rs",
            "pub struct Thing;\npub mod other { pub struct More; }\nfn f() { crate::c::g(); }\n",
        ),
        ("c.rs", "pub fn g() {}\nmod x;\n"),
        ("c/x.rs", "use super::super::a;\n"),
        ("d.rs", "pub fn h() { let _ = crate::More; }\n"),
    ];
    for (name, text) in files {
        std::fs::write(src.join(name), text).expect("write");
    }
    let g = graph(&dir, "lib.rs");
    let _ = std::fs::remove_dir_all(&dir);
    let edges: Vec<String> = g
        .edges
        .iter()
        .flat_map(|(from, to)| to.keys().map(move |t| format!("{from}->{t}")))
        .collect();
    assert_eq!(edges, ["a->b", "a->d", "b->c", "c->a", "d->b"]);
    assert_eq!(
        cycles(&g),
        [
            vec!["a".to_owned(), "b".into(), "c".into()],
            vec!["a".to_owned(), "d".into(), "b".into(), "c".into()],
        ]
    );
}
