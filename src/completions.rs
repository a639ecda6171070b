//! Shell completion scripts (clap_complete), with the one fix bash needs for our name.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;

const BIN: &str = "iris-cli";

/// Write the completion script for `shell`.
pub fn write(shell: Shell, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, BIN, &mut script);
    if shell == Shell::Bash {
        script = fix_bash(&String::from_utf8_lossy(&script)).into_bytes();
    }
    out.write_all(&script)
}

/// clap_complete (4.6.12 and earlier, clap-rs/clap#6421) spells the state of a subcommand of a
/// hyphenated binary two ways: the word loop sets `iris__cli__subcmd__predict`, the case arms
/// test `iris__subcmd__cli__subcmd__predict`, so nothing after a subcommand ever completed.
/// Spelling the arms as the loop does is a no-op once upstream agrees with itself.
fn fix_bash(script: &str) -> String {
    script.replace("iris__subcmd__cli", "iris__cli")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bash_state_the_loop_sets_has_an_arm() {
        let mut out = Vec::new();
        write(Shell::Bash, &mut out).unwrap();
        let script = String::from_utf8(out).unwrap();
        let set: Vec<&str> = script
            .lines()
            .filter_map(|l| l.trim().strip_prefix("cmd=\""))
            .filter_map(|l| l.strip_suffix('"'))
            .filter(|s| !s.is_empty())
            .collect();
        assert!(set.contains(&"iris__cli__subcmd__predict"), "{set:?}");
        for state in set {
            assert!(
                script.contains(&format!("\n        {state})\n")),
                "no case arm for {state}"
            );
        }
    }
}
