//! Every command in the README's ```` ```sh test ```` blocks runs as written, from the
//! repository root, with the built binary first on PATH and `iris-cli serve`'s export lines in
//! the environment (so `$IRIS_URL` examples hit the emulator). Commands of one block run in
//! order in one directory (a later command may read what an earlier one wrote); each must exit
//! 0 within 60 s. Blocks fenced ```` ```sh ```` (real AWS, kubectl, long runs) are not run.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{run, Env, Serve};

const MARK: &str = "```sh test";

/// (line number, command) for every command of every marked block; `\`-continued lines are
/// joined, comment and blank lines dropped.
fn marked_commands(readme: &str) -> Vec<Vec<(usize, String)>> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines().enumerate();
    while let Some((_, line)) = lines.next() {
        if line.trim_end() != MARK {
            continue;
        }
        let mut block = Vec::new();
        let mut pending: Option<(usize, String)> = None;
        for (n, line) in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            let (start, mut text) = pending.take().unwrap_or((n + 1, String::new()));
            text.push_str(if text.is_empty() {
                line.trim_end()
            } else {
                line.trim()
            });
            if let Some(head) = text.strip_suffix('\\') {
                pending = Some((start, format!("{} ", head.trim_end())));
                continue;
            }
            let trimmed = text.trim();
            if !trimmed.is_empty() && !trimmed.starts_with('#') {
                block.push((start, trimmed.to_string()));
            }
        }
        assert!(pending.is_none(), "README: a marked block ends in '\\'");
        blocks.push(block);
    }
    blocks
}

#[test]
fn marked_blocks_are_found_and_joined() {
    let text =
        "x\n```sh test\n# c\niris-cli a \\\n  --b\n\niris-cli c # note\n```\n```sh\nno\n```\n";
    assert_eq!(
        marked_commands(text),
        [vec![
            (4, "iris-cli a --b".to_string()),
            (7, "iris-cli c # note".to_string())
        ]]
    );
}

#[test]
fn readme_commands_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let blocks = marked_commands(&readme);
    let total: usize = blocks.iter().map(Vec::len).sum();
    assert!(total >= 20, "only {total} marked README commands");

    let bin = assert_cmd::cargo::cargo_bin("iris-cli");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let env = Env::new();
    let serve = Serve::start(&env, &[]);
    let started = Instant::now();
    let mut failures = Vec::new();
    for (b, block) in blocks.iter().enumerate() {
        // A fresh "repository root" per block: the committed files the examples read, linked.
        let dir = env.path(&format!("block{b}"));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in ["payloads", "deploy", "README.md"] {
            std::os::unix::fs::symlink(root.join(entry), dir.join(entry)).unwrap();
        }
        for (line, command) in block {
            let mut bash = env.scrubbed("bash");
            bash.args([
                "--norc",
                "--noprofile",
                "-o",
                "pipefail",
                "-e",
                "-c",
                command,
            ])
            .current_dir(&dir)
            .env("PATH", &path)
            .stdin(std::process::Stdio::null());
            for (k, v) in &serve.exports {
                bash.env(k, v);
            }
            let mut bash = assert_cmd::Command::from_std(bash);
            bash.timeout(Duration::from_secs(60));
            let t = Instant::now();
            let r = run(&mut bash);
            eprintln!(
                "README.md:{line}: exit {} in {:.1}s: {command}",
                r.code,
                t.elapsed().as_secs_f64()
            );
            if r.code != 0 {
                failures.push(format!(
                    "README.md:{line}: exit {}: {command}\n--- stdout\n{}\n--- stderr\n{}",
                    r.code, r.stdout, r.stderr
                ));
            }
        }
    }
    eprintln!(
        "{total} README commands in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
