//! The application layer's modules depend only downward: no module of src/ reaches, through `crate::`
//! paths, back to itself (commands count one module each; launch/ and commands/slurm/ count as their
//! parent). Guards the layering ARCHITECTURE.md describes.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::collections::{BTreeMap, BTreeSet};

mod common;

/// The module a source file belongs to, as `crate::` paths name it.
fn module_of(rel: &str) -> String {
    let name = rel.trim_end_matches(".rs").trim_end_matches("/mod").replace('/', "::");
    if name.starts_with("launch::") {
        return "launch".into();
    }
    if name.starts_with("commands::slurm::") {
        return "commands::slurm".into();
    }
    name
}

/// The modules `text` (a source file outside its tests) names through `crate::` or `super::`.
fn references(module: &str, text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut out = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let path: String =
            code[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':').collect();
        let mut parts = path.split("::").filter(|p| !p.is_empty());
        let Some(first) = parts.next() else { continue };
        let target = match (first, parts.next()) {
            ("commands", Some(second)) => format!("commands::{second}"),
            (first, _) => first.to_owned(),
        };
        if target != module && !module.starts_with(&format!("{target}::")) {
            out.insert(target);
        }
    }
    if let Some(parent) = module.strip_prefix("commands::") {
        for (at, _) in code.match_indices("super::") {
            let name: String = code[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() && name != parent {
                out.insert(format!("commands::{name}"));
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = common::repo().join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            if !rel.ends_with(".rs") || rel == "main.rs" || rel == "lib.rs" {
                continue;
            }
            let module = module_of(&rel);
            let refs = references(&module, &std::fs::read_to_string(&path).unwrap());
            graph.entry(module).or_default().extend(refs);
        }
    }
    graph
}

/// A cycle through `from`, if any: the path back to it.
fn cycle_through(graph: &BTreeMap<String, BTreeSet<String>>, from: &str) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_owned(), vec![from.to_owned()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == from {
                return Some([path.clone(), vec![from.to_owned()]].concat());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), [path.clone(), vec![next.clone()]].concat()));
            }
        }
    }
    None
}

#[test]
fn no_module_of_the_application_layer_depends_on_itself_through_others() {
    let graph = graph();
    assert!(graph.contains_key("job") && graph.contains_key("commands::run"), "the source tree was read");
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(&graph, module) {
            panic!("import cycle: {}", cycle.join(" -> "));
        }
    }
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("a".into());
    assert_eq!(cycle_through(&graph, "a"), Some(vec!["a".into(), "b".into(), "a".into()]));
    assert_eq!(references("job", "use crate::checkpointing::{x};\n crate::commands::run::f()"), {
        ["checkpointing".to_owned(), "commands::run".to_owned()].into_iter().collect::<BTreeSet<_>>()
    });
}
