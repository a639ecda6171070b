//! What a newcomer meets first: shell completions that complete (run in the real shells), man
//! pages that render without warnings, a release binary without debug info.

use std::process::Command;

use crate::common::{run, Env};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn script(env: &Env, shell: &str, file: &str) -> std::path::PathBuf {
    let r = run(env.iris().args(["completions", shell]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    env.write(file, &r.stdout)
}

/// bash's own completion machinery: source the script, set COMP_WORDS as readline would for
/// `iris-cli predict --ur<TAB>`, call the registered function.
fn bash_complete(env: &Env, line: &[&str]) -> Vec<String> {
    let file = script(env, "bash", "iris-cli.bash");
    let words = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let program = format!(
        r#"source '{}'
fn=$(complete -p iris-cli | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$fn" iris-cli "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}""#,
        file.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_options_after_a_subcommand() {
    let env = Env::new();
    assert_eq!(
        bash_complete(&env, &["iris-cli", "predict", "--ur"]),
        ["--url"]
    );
    assert_eq!(
        bash_complete(&env, &["iris-cli", "report", "merge", "--fail"]),
        ["--fail-if"]
    );
    assert!(bash_complete(&env, &["iris-cli", "pre"]).contains(&"predict".to_string()));
    let serve = bash_complete(&env, &["iris-cli", "serve", "--"]);
    assert!(serve.contains(&"--listen".to_string()), "{serve:?}");
    assert!(!serve.contains(&"--url".to_string()), "{serve:?}");
}

#[test]
fn zsh_completes_options_after_a_subcommand() {
    if !have("zsh") {
        eprintln!("SKIP: zsh is not installed (apt-get install zsh)");
        return;
    }
    let env = Env::new();
    let dir = env.path("zfunc");
    std::fs::create_dir_all(&dir).unwrap();
    let r = run(env.iris().args(["completions", "zsh"]));
    std::fs::write(dir.join("_iris-cli"), r.stdout).unwrap();
    let driver = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/completions/zsh_complete.zsh"
    );
    let complete = |line: &str, fpath: &std::path::Path| {
        let out = Command::new("zsh")
            .args(["-f", driver])
            .arg(fpath)
            .arg(line)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let screen = complete("iris-cli predict --ur", &dir);
    assert!(
        screen.contains("--url"),
        "zsh did not complete --url:\n{screen:?}"
    );
    // The driver itself can fail: without the script on fpath nothing completes.
    let screen = complete("iris-cli predict --ur", &env.path("empty"));
    assert!(!screen.contains("--url"), "{screen:?}");
}

#[test]
fn fish_completes_options_after_a_subcommand() {
    if !have("fish") {
        eprintln!("SKIP: fish is not installed (apt-get install fish)");
        return;
    }
    let env = Env::new();
    let file = script(&env, "fish", "iris-cli.fish");
    let out = Command::new("fish")
        .args(["--no-config", "-c"])
        .arg(format!(
            "source '{}'; complete -C 'iris-cli predict --ur'",
            file.display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let first: Vec<&str> = stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert_eq!(first, ["--url"], "{stdout}");
}

#[test]
fn man_pages_for_every_subcommand_render_without_warnings() {
    let env = Env::new();
    let r = run(env.iris().args(["man", "--dir", "man1"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files: Vec<&str> = r.stdout.lines().collect();
    for page in [
        "iris-cli.1",
        "iris-cli-predict.1",
        "iris-cli-batch.1",
        "iris-cli-serve.1",
        "iris-cli-bench.1",
        "iris-cli-report.1",
        "iris-cli-report-merge.1",
        "iris-cli-completions.1",
        "iris-cli-man.1",
    ] {
        assert!(files.iter().any(|f| f.ends_with(page)), "{page}: {files:?}");
    }
    // One page on stdout is the same text as its file.
    let predict = run(env.iris().args(["man", "predict"]));
    assert_eq!(
        predict.stdout,
        std::fs::read_to_string(env.path("man1/iris-cli-predict.1")).unwrap()
    );
    let bad = run(env.iris().args(["man", "nope"]));
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("report merge"), "{}", bad.stderr);

    if !have("man") || !have("groff") {
        eprintln!(
            "SKIP rendering: man or groff is not installed (apt-get install man-db groff-base)"
        );
        return;
    }
    for file in &files {
        let out = Command::new("man")
            .args(["--warnings", "-E", "UTF-8", "-l"])
            .arg(env.dir.path().join(file))
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{file}: {stderr}"
        );
        let text = plain(&out.stdout);
        for section in ["SYNOPSIS", "EXIT STATUS", "SEE ALSO"] {
            assert!(text.contains(section), "{file} has no {section}:\n{text}");
        }
    }
    let text = Command::new("man")
        .args(["-E", "UTF-8", "-l"])
        .arg(env.path("man1/iris-cli-predict.1"))
        .env("MANWIDTH", "200")
        .output()
        .unwrap();
    let text = plain(&text.stdout);
    for want in [
        "--endpoint-name",
        "IRIS_URL",
        "EXAMPLES",
        "iris-cli predict --local",
    ] {
        assert!(text.contains(want), "{want}:\n{text}");
    }
}

/// man's output without the overstrike (`X\bX` bold, `_\bX` underline) it uses off a terminal.
fn plain(bytes: &[u8]) -> String {
    let mut out: Vec<char> = Vec::new();
    for c in String::from_utf8_lossy(bytes).chars() {
        if c == '\u{8}' {
            out.pop();
        } else {
            out.push(c);
        }
    }
    // "X\bX": the pop removed the first X, the second stays.
    out.into_iter().collect()
}

/// The installed binary has no debug info (it was 94 MiB with line tables; stripped ~16 MiB,
/// measured by benches/size.sh); symbols live in the `profiling` profile.
#[test]
fn release_profile_strips_debug_info() {
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let section = |name: &str| -> String {
        let start = manifest
            .find(&format!("[profile.{name}]"))
            .unwrap_or_else(|| panic!("no [profile.{name}]"));
        let rest = &manifest[start + 1..];
        let end = rest.find("\n[").map_or(rest.len(), |e| e + 1);
        rest[..end].to_string()
    };
    let release = section("release");
    assert!(release.contains("debug = false"), "{release}");
    assert!(release.contains("strip = \"symbols\""), "{release}");
    let profiling = section("profiling");
    assert!(profiling.contains("inherits = \"release\""), "{profiling}");
    assert!(profiling.contains("debug = "), "{profiling}");
}

/// `predict --local --dry-run` says its port closes, and its curl line, run as printed after
/// pasting `iris-cli serve`'s export lines, gets a prediction from that server.
#[test]
fn dry_run_local_curl_line_works_after_pasting_serve_exports() {
    if !have("curl") {
        eprintln!("SKIP: curl is not installed");
        return;
    }
    let env = Env::new();
    let serve = crate::common::Serve::start(&env, &[]);
    // Each kind's curl line names serve's export for that kind.
    let setosa = "\"species\": \"setosa\"";
    for (args, var, want) in [
        (&["--data", "5.1,3.5,1.4,0.2"][..], "IRIS_URL", setosa),
        (
            &["--endpoint-name", "iris-xgb", "--data", "6.6,3.0,4.4,1.4"][..],
            "IRIS_ENDPOINT_URL",
            "0.",
        ),
        (
            &["--api", "http", "--data", "5.1,3.5,1.4,0.2"][..],
            "IRIS_HTTP_API_URL",
            setosa,
        ),
        (
            &["--api", "function-url", "--data", "5.1,3.5,1.4,0.2"][..],
            "IRIS_FUNCTION_URL",
            setosa,
        ),
    ] {
        let r = run(env
            .iris()
            .args(["predict", "--local", "--dry-run"])
            .args(args));
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stdout.contains("closes when this command exits"),
            "{}",
            r.stdout
        );
        let curl = r.stdout.lines().last().unwrap();
        assert!(curl.starts_with("curl --aws-sigv4"), "{curl}");
        assert!(curl.contains(&format!("\"${{{var}:-")), "{var}: {curl}");
        let exports: String = serve
            .exports
            .iter()
            .map(|(k, v)| format!("export {k}={v}\n"))
            .collect();
        let out = env
            .scrubbed("bash")
            .args(["--norc", "--noprofile", "-c"])
            .arg(format!(
                "{exports}{curl} --silent --show-error --fail-with-body"
            ))
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .unwrap();
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && body.contains(want),
            "{curl}\n{body}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
