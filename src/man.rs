//! Man pages: one per command (`iris-cli.1`, `iris-cli-predict.1`, ..., `iris-cli-report-merge.1`)
//! from the clap definitions (clap_mangen: synopsis, description, options), plus the sections
//! clap cannot know: environment, exit status, examples and see-also.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use roff::{bold, italic, roman, Roff};

use crate::cli::Cli;
use crate::error::CliError;

const BIN: &str = "iris-cli";

/// Every page, in order: the top-level one, then each subcommand (depth first).
pub fn page_names() -> Vec<String> {
    commands().into_iter().map(|(name, _)| name).collect()
}

/// The page of `path` (`[]`, `["predict"]`, `["report", "merge"]` or `["report-merge"]`).
pub fn render(path: &[String]) -> Result<Vec<u8>, CliError> {
    let wanted = if path.is_empty() {
        BIN.to_string()
    } else {
        format!("{BIN}-{}", path.join("-"))
    };
    let (name, cmd) = commands()
        .into_iter()
        .find(|(name, _)| *name == wanted)
        .ok_or_else(|| {
            let names: Vec<String> = page_names()
                .iter()
                .skip(1)
                .map(|n| n[BIN.len() + 1..].replace('-', " "))
                .collect();
            CliError::usage(format!("no man page for '{}'", path.join(" ")))
                .hint(format!("pages: {}", names.join(", ")))
        })?;
    let mut out = Vec::new();
    page(&name, cmd, &mut out).expect("writing to a Vec");
    Ok(out)
}

/// Write every page into `dir` (created if missing) as `NAME.1`; returns the files written.
pub fn write_dir(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    use anyhow::Context;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, cmd) in commands() {
        let path = dir.join(format!("{name}.1"));
        let mut buf = Vec::new();
        page(&name, cmd, &mut buf)?;
        std::fs::write(&path, buf).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `iris-cli man [SUBCOMMAND...] [--dir DIR]`.
pub fn run(path: &[String], dir: Option<&Path>) -> anyhow::Result<crate::error::Exit> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match dir {
        Some(dir) => {
            for file in write_dir(dir)? {
                writeln!(out, "{}", file.display())?;
            }
        }
        None => out.write_all(&render(path)?)?,
    }
    Ok(crate::error::Exit::Ok)
}

/// (page name, command) for the root and every subcommand, `help` left out.
fn commands() -> Vec<(String, clap::Command)> {
    fn walk(cmd: &clap::Command, name: String, out: &mut Vec<(String, clap::Command)>) {
        out.push((name.clone(), cmd.clone()));
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, format!("{name}-{}", sub.get_name()), out);
        }
    }
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let mut out = Vec::new();
    walk(&root, BIN.to_string(), &mut out);
    out
}

fn page(name: &str, cmd: clap::Command, w: &mut dyn Write) -> std::io::Result<()> {
    let sub = name
        .strip_prefix(BIN)
        .unwrap_or(name)
        .trim_start_matches('-');
    let version = env!("CARGO_PKG_VERSION");
    let man = clap_mangen::Man::new(cmd.clone())
        .title(name)
        .section("1")
        .source(format!("{BIN} {version}"))
        .manual("iris-cli manual");
    man.render_title(w)?;
    man.render_name_section(w)?;
    man.render_synopsis_section(w)?;
    man.render_description_section(w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(w)?;
    }
    let extra = extras(sub);
    let mut roff = Roff::new();
    if !extra.env.is_empty() {
        roff.control("SH", ["ENVIRONMENT"]);
        for (var, what) in extra.env {
            roff.control("TP", []);
            roff.text([bold(*var)]);
            roff.text([roman(*what)]);
        }
    }
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in extra.exit {
        roff.control("TP", []);
        roff.text([bold(code.to_string())]);
        roff.text([roman(*what)]);
    }
    if !extra.examples.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for (what, command) in extra.examples {
            roff.control("PP", []);
            roff.text([roman(*what)]);
            roff.control("PP", []);
            roff.control("RS", ["4"]);
            roff.control("nf", []);
            roff.text([roman(*command)]);
            roff.control("fi", []);
            roff.control("RE", []);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut see: Vec<String> = page_names().into_iter().filter(|n| n != name).collect();
    see.sort();
    for (i, other) in see.iter().enumerate() {
        let sep = if i + 1 == see.len() { "" } else { "," };
        roff.text([bold(other.as_str()), roman(format!("(1){sep}"))]);
    }
    roff.control("PP", []);
    roff.text([
        italic("README.md"),
        roman(" in the source tree has the full reference, with the bench JSON schema."),
    ]);
    w.write_all(roff.to_roff().as_bytes())
}

struct Extras {
    env: &'static [(&'static str, &'static str)],
    exit: &'static [(u8, &'static str)],
    examples: &'static [(&'static str, &'static str)],
}

const ENV_CLIENT: &[(&str, &str)] = &[
    (
        "IRIS_URL",
        "API Gateway invoke URL, when --url is not given.",
    ),
    (
        "IRIS_ENDPOINT_NAME",
        "SageMaker endpoint name, when --endpoint-name is not given.",
    ),
    (
        "IRIS_ENDPOINT_URL",
        "SageMaker runtime base URL, when --endpoint-url is not given.",
    ),
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
        "Credentials, first in the AWS chain (then the profile, web identity, ECS, EC2 metadata).",
    ),
    (
        "AWS_PROFILE",
        "Named profile in ~/.aws/config and ~/.aws/credentials (as --profile).",
    ),
    (
        "AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE",
        "Where those files are.",
    ),
    (
        "AWS_REGION, AWS_DEFAULT_REGION",
        "Signing region when it cannot be inferred from the host.",
    ),
    (
        "HTTPS_PROXY, HTTP_PROXY, NO_PROXY",
        "Proxies, honoured as curl does.",
    ),
    ("NO_COLOR", "No colour in human output."),
];

const EXIT_CLIENT: &[(u8, &str)] = &[
    (0, "Success."),
    (
        1,
        "Other failure (unreadable file, unexpected local error).",
    ),
    (
        2,
        "Usage error (bad flag, bad --data, bad URL, missing region).",
    ),
    (
        3,
        "No credentials, or rejected by authentication or authorization (403).",
    ),
    (
        4,
        "Any other 4xx (model error 424, validation error, payload too large).",
    ),
    (5, "5xx, throttling (429), or the Lambda function failed."),
    (6, "Timeout or connection failure."),
];

const EXIT_ALL: &[(u8, &str)] = &[
    (0, "Success."),
    (
        1,
        "Other failure; for bench and report merge, a --fail-if condition broke.",
    ),
    (
        2,
        "Usage error (bad flag, bad --data, bad URL, missing region).",
    ),
    (
        3,
        "No credentials, or rejected by authentication or authorization (403).",
    ),
    (
        4,
        "Any other 4xx (model error 424, validation error, payload too large).",
    ),
    (5, "5xx, throttling (429), or the Lambda function failed."),
    (
        6,
        "Timeout or connection failure (batch: the endpoint never answered).",
    ),
    (
        7,
        "batch finished but some rows were rejected (they are in the rejects file).",
    ),
    (
        130,
        "batch interrupted by Ctrl-C or SIGTERM (resumable with --resume).",
    ),
];

const EXIT_SIMPLE: &[(u8, &str)] = &[
    (0, "Success."),
    (1, "Failure (for example a file that cannot be written)."),
    (2, "Usage error."),
];

/// Every example command here parses (tested), and the ones with --local run as written from
/// the repository root.
fn extras(sub: &str) -> Extras {
    match sub {
        "" => Extras {
            env: ENV_CLIENT,
            exit: EXIT_ALL,
            examples: &[
                ("One prediction against the embedded emulator:", "iris-cli predict --local --data 5.1,3.5,1.4,0.2"),
                ("Score a CSV file:", "iris-cli batch --local payloads/flowers.csv --out scored.csv"),
                ("A 5-second load test at 50 requests per second:", "iris-cli bench --local --rps 50 --duration 5s"),
                ("The emulator, for other clients:", "iris-cli serve --listen 127.0.0.1:8080"),
            ],
        },
        "predict" => Extras {
            env: ENV_CLIENT,
            exit: EXIT_CLIENT,
            examples: &[
                ("One row against the embedded emulator (API Gateway, Lambda, XGBoost):", "iris-cli predict --local --data 5.1,3.5,1.4,0.2"),
                ("Two rows straight to the emulator's SageMaker endpoint, as JSON:", "iris-cli predict --local --endpoint-name iris-xgb --data '5.1,3.5,1.4,0.2;6.6,3.0,4.4,1.4' -o json"),
                ("A raw JSON body from a file:", "iris-cli predict --local --body-file payloads/predict.json"),
                ("What would be signed, sending nothing:", "iris-cli predict --local --data 5.1,3.5,1.4,0.2 --dry-run"),
                ("Your API, credentials from the AWS chain:", "iris-cli predict --url https://abc123.execute-api.eu-west-1.amazonaws.com/species/irispredict --data 5.1,3.5,1.4,0.2"),
            ],
        },
        "batch" => Extras {
            env: ENV_CLIENT,
            exit: EXIT_ALL,
            examples: &[
                ("Score a file; the id column is passed through:", "iris-cli batch --local payloads/flowers.csv --out scored.csv"),
                ("scikit-learn's iris file: its species label column is passed through, not sent:", "iris-cli batch --local payloads/iris.csv -o jsonl"),
                ("Resume an interrupted run:", "iris-cli batch --local payloads/flowers.csv --out scored.csv --resume"),
            ],
        },
        "serve" => Extras {
            env: &[],
            exit: &[
                (0, "Stopped by Ctrl-C or SIGTERM."),
                (1, "Cannot listen, or a --model or --credentials file cannot be read."),
                (2, "Usage error."),
            ],
            examples: &[
                ("The whole path on a fixed port (prints export lines for other shells):", "iris-cli serve --listen 127.0.0.1:8080"),
                ("With injected latency and throttling:", "iris-cli serve --latency model=5ms --throttle-rps 100 --burst 20"),
            ],
        },
        "bench" => Extras {
            env: ENV_CLIENT,
            exit: &[
                (0, "The run finished (failed requests are counted, not fatal)."),
                (1, "A --fail-if condition broke."),
                (2, "Usage error."),
                (6, "Every request failed to connect or timed out."),
            ],
            examples: &[
                ("Open loop, 50 requests per second for 5 seconds, against the emulator:", "iris-cli bench --local --rps 50 --duration 5s"),
                ("Rotate over the rows of a CSV file (a label column is left out):", "iris-cli bench --local --rps 20 --duration 2s --payload-csv payloads/iris.csv"),
                ("A gate for CI:", "iris-cli bench --local --rps 50 --duration 2s --fail-if 'p99<200ms,errors<1%'"),
            ],
        },
        "report" | "report-merge" => Extras {
            env: &[],
            exit: &[
                (0, "Success."),
                (1, "A --fail-if condition broke, or a log cannot be read."),
                (2, "Usage error."),
            ],
            examples: &[(
                "Merge the logs of several bench runs:",
                "iris-cli report merge a.hlog b.hlog --html merged.html --fail-if 'p99<200ms'",
            )],
        },
        "completions" => Extras {
            env: &[],
            exit: EXIT_SIMPLE,
            examples: &[
                ("bash:", "iris-cli completions bash > ~/.local/share/bash-completion/completions/iris-cli"),
                ("zsh (a directory on $fpath):", "iris-cli completions zsh > ~/.zfunc/_iris-cli"),
                ("fish:", "iris-cli completions fish > ~/.config/fish/completions/iris-cli.fish"),
            ],
        },
        "man" => Extras {
            env: &[],
            exit: EXIT_SIMPLE,
            examples: &[
                ("Read a subcommand's page:", "iris-cli man predict | man -l -"),
                ("Install every page:", "iris-cli man --dir ~/.local/share/man/man1"),
            ],
        },
        _ => Extras {
            env: &[],
            exit: EXIT_SIMPLE,
            examples: &[],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_page_for_every_subcommand() {
        let names = page_names();
        for want in [
            "iris-cli",
            "iris-cli-predict",
            "iris-cli-batch",
            "iris-cli-serve",
            "iris-cli-bench",
            "iris-cli-report",
            "iris-cli-report-merge",
            "iris-cli-completions",
            "iris-cli-man",
        ] {
            assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
        }
        assert!(!names.iter().any(|n| n.ends_with("-help")), "{names:?}");
    }

    #[test]
    fn pages_have_options_exit_status_and_examples() {
        let page = String::from_utf8(render(&["predict".into()]).unwrap()).unwrap();
        assert!(page.contains(".TH iris-cli-predict 1"), "{page}");
        for section in [
            "OPTIONS",
            "ENVIRONMENT",
            "EXIT STATUS",
            "EXAMPLES",
            "SEE ALSO",
        ] {
            assert!(
                page.contains(&format!(".SH \"{section}\""))
                    || page.contains(&format!(".SH {section}")),
                "{section}: {page}"
            );
        }
        assert!(page.contains("\\-\\-endpoint\\-name"), "{page}");
        let merge = String::from_utf8(render(&["report".into(), "merge".into()]).unwrap()).unwrap();
        assert_eq!(
            merge,
            String::from_utf8(render(&["report-merge".into()]).unwrap()).unwrap()
        );
        assert!(render(&["nope".into()]).is_err());
    }

    #[test]
    fn every_example_parses() {
        for name in page_names() {
            let sub = name.strip_prefix(BIN).unwrap().trim_start_matches('-');
            for (_, example) in extras(sub).examples {
                let words: Vec<String> = example
                    .split(['|', '>'])
                    .next()
                    .unwrap()
                    .split_whitespace()
                    .map(|w| w.trim_matches('\'').to_string())
                    .collect();
                if let Err(e) = Cli::try_parse_from(&words) {
                    panic!("{name}: example does not parse: {example}\n{e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod help_tests {
    use super::*;

    /// Every option of every subcommand has a description (so every man page and --help line
    /// says what it does).
    #[test]
    fn every_option_is_described() {
        let mut missing = Vec::new();
        for (name, cmd) in commands() {
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{name} {}", arg.get_id()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "options without a description: {missing:?}"
        );
    }

    /// `-o/--output` wherever results are printed.
    #[test]
    fn dash_o_everywhere_results_are_printed() {
        for (name, cmd) in commands() {
            if let Some(out) = cmd.get_arguments().find(|a| a.get_id() == "output") {
                assert_eq!(out.get_short(), Some('o'), "{name} --output has no -o");
            }
        }
        let with_output: Vec<String> = commands()
            .into_iter()
            .filter(|(_, c)| c.get_arguments().any(|a| a.get_id() == "output"))
            .map(|(n, _)| n)
            .collect();
        for want in [
            "iris-cli-predict",
            "iris-cli-batch",
            "iris-cli-bench",
            "iris-cli-report-merge",
        ] {
            assert!(
                with_output.iter().any(|n| n == want),
                "{want}: {with_output:?}"
            );
        }
    }
}
