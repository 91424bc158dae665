//! The header against the contract: the committed include/usocket.h is what
//! the build generates; every function ../shared/spec/C-API.md declares is in
//! it; every number C-API.md gives (and docs/TEAM-NOTES.md gives for the
//! constants added beside it) is the header's value; every error code is
//! named after its usocket condition. The lists come from the documents, so
//! a function or value added to them is checked without touching this file.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::path::PathBuf;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn header() -> String {
    std::fs::read_to_string(format!("{ROOT}/include/usocket.h")).expect("include/usocket.h")
}

/// `shared/spec/C-API.md` beside the repository (../shared from the root; a
/// git worktree may sit one level deeper, so the parents are tried too).
fn spec_path() -> PathBuf {
    let mut dir = Some(std::path::Path::new(ROOT));
    while let Some(d) = dir {
        let p = d.join("shared/spec/C-API.md");
        if p.exists() {
            return p;
        }
        dir = d.parent();
    }
    panic!("shared/spec/C-API.md not found beside {ROOT} or its parents (the contract these tests check against)")
}

fn spec() -> String {
    std::fs::read_to_string(spec_path()).unwrap()
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The functions the ```c blocks of C-API.md declare: `usocket_x(`.
fn spec_functions(spec: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_code = false;
    for line in spec.lines() {
        if line.trim_start().starts_with("```") {
            in_code = line.trim_start() == "```c";
            continue;
        }
        if !in_code {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("usocket_") {
            let before_ok = i == 0 || !is_ident(rest[..i].chars().last().unwrap());
            let end = i + rest[i..].find(|c: char| !is_ident(c)).unwrap_or(rest.len() - i);
            if before_ok && rest[end..].starts_with('(') && !names.iter().any(|n| n == &rest[i..end]) {
                names.push(rest[i..end].to_owned());
            }
            rest = &rest[end..];
        }
    }
    names
}

/// An integer as the header or the documents write it: `-5`, `65507`,
/// `(1 << 20)`.
fn int_value(text: &str) -> Option<i64> {
    let t = text.trim().trim_start_matches('(').trim_end_matches(')').trim();
    if let Some((a, b)) = t.split_once("<<") {
        return Some(a.trim().parse::<i64>().ok()? << b.trim().parse::<i64>().ok()?);
    }
    t.parse().ok()
}

/// Every `#define USOCKET_X value` of the header.
fn header_defines(header: &str) -> BTreeMap<String, i64> {
    let mut m = BTreeMap::new();
    for line in header.lines() {
        let Some(rest) = line.strip_prefix("#define ") else { continue };
        let Some((name, value)) = rest.split_once(' ') else { continue };
        if !name.starts_with("USOCKET_") {
            continue;
        }
        let v = int_value(value).unwrap_or_else(|| panic!("#define {name} {value}: not a number this test can read"));
        m.insert(name.to_owned(), v);
    }
    m
}

/// The numbers a document gives for `USOCKET_` names: `NAME = 3` (enums),
/// `` `NAME` (50) ``, `` `NAME` (SOMAXCONN, 4096) ``, `` `NAME` is 65507 ``.
/// A name given two different values is an error of the document.
fn document_values(text: &str) -> BTreeMap<String, i64> {
    let mut m: BTreeMap<String, i64> = BTreeMap::new();
    let mut rest = text;
    while let Some(i) = rest.find("USOCKET_") {
        let before_ok = i == 0 || !is_ident(rest[..i].chars().last().unwrap());
        let end = i + rest[i..].find(|c: char| !is_ident(c)).unwrap_or(rest.len() - i);
        let name = &rest[i..end];
        let after = rest[end..].trim_start_matches('`').trim_start_matches(' ');
        let value = if let Some(v) = after.strip_prefix('=') {
            let v = v.trim_start();
            let n = v.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(v.len());
            v[..n].parse::<i64>().ok()
        } else if let Some(v) = after.strip_prefix('(') {
            // The first number in the parentheses, if they hold one before any
            // word that is not a constant's name: "(50)", "(SOMAXCONN, 4096)",
            // "(107: the longest path...)".
            let inner = &v[..v.find(')').unwrap_or(0)];
            let first_word = inner.split(|c: char| c == ',' || c == ':').next().unwrap_or("").trim();
            let lead_ok = first_word.parse::<i64>().is_ok() || first_word.chars().all(|c| c.is_ascii_uppercase() || c == '_');
            if lead_ok && !inner.is_empty() {
                inner
                    .split(|c: char| c == ',' || c == ':' || c == ' ')
                    .find_map(|w| w.trim().parse::<i64>().ok())
            } else {
                None
            }
        } else if let Some(v) = after.strip_prefix("is ") {
            let n = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
            v[..n].parse::<i64>().ok()
        } else {
            None
        };
        if let (true, Some(v)) = (before_ok, value) {
            if let Some(old) = m.insert(name.to_owned(), v) {
                assert_eq!(old, v, "the document gives {name} two values");
            }
        }
        rest = &rest[end..];
    }
    m
}

fn error_name(code: i64) -> String {
    unsafe { CStr::from_ptr(usocket::ffi::usocket_error_name(code as i32)) }.to_string_lossy().into_owned()
}

/// usocket's condition name for `USOCKET_ERR_X`: "x-error" with dashes
/// ("ns-try-again-condition" is usocket's one condition among them).
fn condition_name(macro_name: &str) -> String {
    let base = macro_name.trim_start_matches("USOCKET_ERR_").to_ascii_lowercase().replace('_', "-");
    if base == "ns-try-again" {
        format!("{base}-condition")
    } else {
        format!("{base}-error")
    }
}

#[test]
fn committed_header_matches_generated() {
    let generated = std::fs::read_to_string(concat!(env!("OUT_DIR"), "/usocket.h")).expect("generated header");
    assert!(
        generated == header(),
        "include/usocket.h differs from the header generated from the Rust source: run `make header` and commit it"
    );
}

#[test]
fn header_declares_every_spec_function() {
    let spec = spec();
    let names = spec_functions(&spec);
    // The parse found the contract, not a fragment of it.
    for sure in ["usocket_last_error", "usocket_connect", "usocket_wait_list_wait", "usocket_server_stop", "usocket_read_for"] {
        assert!(names.iter().any(|n| n == sure), "the parse of C-API.md missed {sure}: {names:?}");
    }
    let header = header();
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !header.contains(&format!(" {n}(")) && !header.contains(&format!("*{n}(")))
        .collect();
    assert!(missing.is_empty(), "functions C-API.md declares that include/usocket.h lacks: {missing:?}");
    println!("{} functions of C-API.md are in the header", names.len());
}

#[test]
fn every_number_the_spec_gives_is_the_headers() {
    let spec = spec();
    let values = document_values(&spec);
    for sure in [
        ("USOCKET_STREAM", 0),
        ("USOCKET_DATAGRAM", 1),
        ("USOCKET_SHUT_BOTH", 3),
        ("USOCKET_KIND_DATAGRAM", 2),
        ("USOCKET_STATE_READ", 1),
        ("USOCKET_OPT_SEND_BUFFER", 7),
        ("USOCKET_OK", 0),
        ("USOCKET_MAX_DATAGRAM_PACKET_SIZE", 65507),
    ] {
        assert_eq!(values.get(sure.0), Some(&sure.1), "the parse of C-API.md missed {}: {values:?}", sure.0);
    }
    let defines = header_defines(&header());
    for (name, v) in &values {
        match defines.get(name) {
            Some(h) => assert_eq!(h, v, "{name}: the header says {h}, C-API.md says {v}"),
            None => panic!("C-API.md gives {name} = {v}; the header has no such #define"),
        }
    }
    println!("{} values of C-API.md match the header", values.len());
}

#[test]
fn the_constants_added_beside_the_spec_have_their_documented_values() {
    // docs/TEAM-NOTES.md fixes the values of the constants the core adds
    // beyond C-API.md ("Constants added to the header").
    let notes = std::fs::read_to_string(format!("{ROOT}/docs/TEAM-NOTES.md")).unwrap();
    let start = notes.find("Constants added to the header").expect("TEAM-NOTES.md lists the added constants");
    let para = &notes[start..];
    let para = &para[..para.find("\n\n").unwrap_or(para.len())];
    let values = document_values(para);
    assert!(values.len() >= 5, "parsed too few constants from TEAM-NOTES.md: {values:?}");
    let defines = header_defines(&header());
    for (name, v) in &values {
        match defines.get(name) {
            Some(h) => assert_eq!(h, v, "{name}: the header says {h}, TEAM-NOTES.md says {v}"),
            None => panic!("TEAM-NOTES.md gives {name} = {v}; the header has no such #define"),
        }
    }
}

#[test]
fn every_error_code_is_named_after_its_condition_and_fixed() {
    let spec = spec();
    let defines = header_defines(&header());
    // The codes C-API.md names: `USOCKET_ERR_X`, and the `_X` shorthands of its list.
    let errors = &spec[spec.find("## Errors").unwrap()..spec.find("## Addresses").unwrap()];
    let mut named: Vec<String> = Vec::new();
    for tok in errors.split('`').skip(1).step_by(2) {
        if tok.starts_with("USOCKET_ERR_") && tok.chars().all(is_ident) {
            named.push(tok.to_owned());
        } else if tok.starts_with('_') && tok.len() > 1 && tok.chars().all(is_ident) {
            named.push(format!("USOCKET_ERR{tok}"));
        }
    }
    assert!(named.len() >= 27, "parsed only {named:?} from C-API.md's Errors");
    for n in &named {
        assert!(defines.contains_key(n), "C-API.md names {n}; the header lacks it");
    }
    // Every code of the header: negative, unique, named after its condition,
    // and the crate's value (the constants Rust callers use).
    let mut seen = BTreeMap::new();
    for (name, &v) in defines.iter().filter(|(n, _)| n.starts_with("USOCKET_ERR_")) {
        assert!(v < 0, "{name} = {v} is not negative");
        if let Some(other) = seen.insert(v, name.clone()) {
            panic!("{name} and {other} are both {v}");
        }
        assert_eq!(error_name(v), condition_name(name), "usocket_error_name({name} = {v})");
    }
    assert_eq!(defines["USOCKET_OK"], 0);
    assert_eq!(error_name(0), "ok");
    use usocket::error::{
        USOCKET_ERR_INTERNAL, USOCKET_ERR_INVALID_ARGUMENT, USOCKET_ERR_INVALID_HANDLE, USOCKET_ERR_SHUTDOWN,
        USOCKET_ERR_TIMEOUT, USOCKET_ERR_WRONG_KIND,
    };
    for (name, v) in [
        ("USOCKET_ERR_INVALID_ARGUMENT", USOCKET_ERR_INVALID_ARGUMENT),
        ("USOCKET_ERR_INVALID_HANDLE", USOCKET_ERR_INVALID_HANDLE),
        ("USOCKET_ERR_WRONG_KIND", USOCKET_ERR_WRONG_KIND),
        ("USOCKET_ERR_INTERNAL", USOCKET_ERR_INTERNAL),
        ("USOCKET_ERR_TIMEOUT", USOCKET_ERR_TIMEOUT),
        ("USOCKET_ERR_SHUTDOWN", USOCKET_ERR_SHUTDOWN),
    ] {
        assert_eq!(defines[name], v as i64, "{name}: header and crate differ");
    }
    // Fixed forever: the 0.1 numbering (README: "never renumbered or reused").
    let fixed = [
        "INVALID_ARGUMENT", "INVALID_HANDLE", "WRONG_KIND", "INTERNAL", "UNKNOWN", "ADDRESS_IN_USE",
        "ADDRESS_NOT_AVAILABLE", "BAD_FILE_DESCRIPTOR", "CONNECTION_REFUSED", "CONNECTION_ABORTED",
        "CONNECTION_RESET", "NO_BUFFERS", "OPERATION_NOT_SUPPORTED", "OPERATION_NOT_PERMITTED",
        "PROTOCOL_NOT_SUPPORTED", "SOCKET_TYPE_NOT_SUPPORTED", "NETWORK_UNREACHABLE", "NETWORK_DOWN",
        "NETWORK_RESET", "HOST_DOWN", "HOST_UNREACHABLE", "SHUTDOWN", "TIMEOUT", "INVALID_SOCKET",
        "NS_HOST_NOT_FOUND", "NS_TRY_AGAIN", "NS_NO_RECOVERY", "NS_UNKNOWN", "INVALID_SOCKET_STREAM",
    ];
    for (i, short) in fixed.iter().enumerate() {
        let name = format!("USOCKET_ERR_{short}");
        assert_eq!(defines.get(&name), Some(&-(i as i64 + 1)), "{name} was renumbered");
    }
}

#[test]
fn no_constant_of_the_header_goes_unchecked() {
    // Every #define is pinned: by C-API.md, by TEAM-NOTES.md, as an error
    // code above, or here against the crate.
    let defines = header_defines(&header());
    let spec_values = document_values(&spec());
    let notes = std::fs::read_to_string(format!("{ROOT}/docs/TEAM-NOTES.md")).unwrap();
    let note_values = document_values(&notes);
    let crate_values: BTreeMap<&str, i64> = [
        ("USOCKET_ADDRESS_STRLEN", usocket::ffi::USOCKET_ADDRESS_STRLEN as i64),
        ("USOCKET_WAIT_MAX", usocket::ffi::USOCKET_WAIT_MAX as i64),
    ]
    .into_iter()
    .collect();
    for (name, v) in &defines {
        if name.starts_with("USOCKET_ERR_") || name == "USOCKET_OK" {
            continue;
        }
        if let Some(c) = crate_values.get(name.as_str()) {
            assert_eq!(c, v, "{name}: header {v}, crate {c}");
            continue;
        }
        assert!(
            spec_values.contains_key(name) || note_values.contains_key(name),
            "#define {name} {v}: no document gives its value (C-API.md or TEAM-NOTES.md), so nothing pins it"
        );
    }
    assert_eq!(crate_values["USOCKET_ADDRESS_STRLEN"], 46, "INET6_ADDRSTRLEN");
}
