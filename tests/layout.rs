//! The workspace's layout stays readable: the course crate, the kernels and
//! the tools keep to their roles (a notebook compiles no tool, the kernels
//! know no course), no import cycle between the course crate's modules,
//! nothing outside `runtime` reads the environment, and no file or function
//! too long to read in one sitting.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Top-level module of a file under `src/` (`nn` for `src/nn/conv.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel
        .components()
        .next()?
        .as_os_str()
        .to_str()?
        .trim_end_matches(".rs")
        .to_string();
    (first != "lib" && first != "bin").then_some(first)
}

/// Which top-level modules each module names through `crate::`.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let Some(m) = module_of(src, &file) else { continue };
        let text = std::fs::read_to_string(&file).unwrap();
        let deps = g.entry(m.clone()).or_default();
        for (i, _) in text.match_indices("crate::") {
            let name: String = text[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if name != m && !name.is_empty() {
                deps.insert(name);
            }
        }
    }
    g
}

#[test]
fn no_import_cycle_between_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let g = graph(&src);
    assert!(g.contains_key("nn") && g.contains_key("runtime"), "{g:?}");
    // Depth-first search for a cycle, reporting its path.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            return Some(cycle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            if let Some(c) = visit(d, g, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for m in g.keys() {
        if let Some(cycle) = visit(m, &g, &mut Vec::new(), &mut done) {
            panic!("import cycle between modules: {}", cycle.join(" -> "));
        }
    }
    // The low layers stay low.
    for low in ["error", "io", "runtime"] {
        for high in ["nn", "models", "train", "optim", "viz", "exercise"] {
            assert!(!g[low].contains(high), "{low} must not import {high}");
        }
    }
}

/// The root of the workspace (the course crate's folder).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `[dependencies]` names of a manifest.
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            names.push(line.split(['=', ' ']).next().unwrap_or("").to_string());
        }
    }
    names
}

#[test]
fn crates_keep_to_their_roles() {
    let course = dependencies(&root().join("Cargo.toml"));
    for tool in ["evcxr", "autoencoders-tools", "clap"] {
        assert!(
            !course.contains(&tool.to_string()),
            "the course crate (what a notebook compiles) depends on {tool}"
        );
    }
    assert!(course.contains(&"autoencoders-kernels".to_string()));
    let kernels = dependencies(&root().join("crates/kernels/Cargo.toml"));
    assert!(
        kernels.iter().all(|d| !d.starts_with("autoencoders")),
        "the kernels crate is a candle extension of its own: {kernels:?}"
    );
    let tools = dependencies(&root().join("crates/tools/Cargo.toml"));
    assert!(tools.contains(&"autoencoders".to_string()) && tools.contains(&"evcxr".to_string()));
}

#[test]
fn only_runtime_reads_or_sets_the_environment() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    rust_files(&root().join("crates/kernels/src"), &mut files);
    let mut found = Vec::new();
    for f in files.iter().filter(|f| !f.ends_with("runtime/settings.rs")) {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            if ["std::env::var", "env::set_var", "env::remove_var", "env::vars"]
                .iter()
                .any(|p| line.contains(p))
            {
                found.push(format!("{}:{}", f.display(), i + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "read the environment through runtime::settings(): {found:?}"
    );
}

/// The functions of a Rust file: name, first line, length in lines (from
/// the `fn` line to its closing brace).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i].trim_start();
        let is_fn = !l.starts_with("//")
            && (l.starts_with("fn ") || l.contains(" fn ") && (l.starts_with("pub") || l.starts_with("unsafe")));
        if !is_fn {
            i += 1;
            continue;
        }
        let name: String = l[l.find("fn ").unwrap() + 3..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let (mut depth, mut started, mut j) = (0i32, false, i);
        while j < lines.len() {
            for c in lines[j].chars() {
                match c {
                    '{' => (depth, started) = (depth + 1, true),
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if (started && depth == 0) || (!started && lines[j].trim_end().ends_with(';')) {
                break;
            }
            j += 1;
        }
        if started {
            out.push((name, i + 1, j - i + 1));
        }
        i = j + 1;
    }
    out
}

#[test]
fn every_source_file_and_function_reads_in_one_sitting() {
    let mut files = Vec::new();
    for dir in [
        "src",
        "tests",
        "crates/kernels/src",
        "crates/kernels/tests",
        "crates/tools/src",
        "crates/tools/tests",
    ] {
        rust_files(&root().join(dir), &mut files);
    }
    let mut long = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines = text.lines().count();
        if lines > 550 {
            long.push(format!("{} ({lines} lines)", f.display()));
        }
        // The libraries' functions: about 80 lines at most.
        let library = !f
            .components()
            .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "bin");
        for (name, at, len) in functions(&text).into_iter().filter(|_| library) {
            if len > 80 {
                long.push(format!("{}:{at} fn {name} ({len} lines)", f.display()));
            }
        }
    }
    assert!(long.is_empty(), "split these by concept: {long:?}");
}

#[test]
fn the_function_scan_finds_functions_and_their_length() {
    let text =
        "pub fn a() {\n    if x { y }\n}\n// fn not_this() {}\nfn b(\n    x: u8,\n) -> u8 {\n    x\n}\nfn c();\n";
    let found = functions(text);
    assert_eq!(found, vec![("a".to_string(), 1, 3), ("b".to_string(), 5, 5)]);
}
