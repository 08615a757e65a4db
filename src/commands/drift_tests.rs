//! The completions and the man page against the command line: every command, every flag
//! and every environment variable must be in each shell's script and in the page, in the
//! part that belongs to its command, so that they can never drift from the clap
//! definitions. Hidden arguments (`hide = true`) are left out on purpose: hiding a flag is
//! how one keeps it out of `--help` and the page (`clap_complete` still completes it).

use clap::{Arg, Command, CommandFactory};

use super::completions::script_of;
use super::man::page_of;
use crate::cli::{Cli, Shell};

/// A command's path below `bookchat` (empty for `bookchat` itself) and its arguments.
struct Node {
    path: Vec<String>,
    args: Vec<Arg>,
}

/// Every command, depth first, with its visible arguments. clap's own `help` command is
/// left out: it is clap's, not ours, and takes no flags.
fn walk(command: &Command, path: &[String], nodes: &mut Vec<Node>) {
    let args = command.get_arguments().filter(|a| !a.is_hide_set());
    nodes.push(Node {
        path: path.to_vec(),
        args: args.cloned().collect(),
    });
    for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut below = path.to_vec();
        below.push(sub.get_name().to_string());
        walk(sub, &below, nodes);
    }
}

fn every_command() -> Vec<Node> {
    let mut cli = Cli::command();
    // Building adds --help and --version, which the outputs cover too.
    cli.build();
    let mut nodes = Vec::new();
    walk(&cli, &[], &mut nodes);
    nodes
}

/// The generated texts, from `command` (the real one, or a doctored one).
struct Outputs {
    bash: String,
    zsh: String,
    fish: String,
    man: String,
}

fn outputs_of(command: &Command) -> Outputs {
    Outputs {
        bash: script_of(Shell::Bash, command.clone()),
        zsh: script_of(Shell::Zsh, command.clone()),
        fish: script_of(Shell::Fish, command.clone()),
        man: page_of(command.clone()),
    }
}

/// The one level of commands BookChat has; a deeper one needs these parsers taught.
fn single(path: &[String]) -> Option<&str> {
    assert!(
        path.len() <= 1,
        "teach drift_tests nested commands: {path:?}"
    );
    path.first().map(String::as_str)
}

/// bash: the `opts="…"` line of the command's `case` branch.
fn bash_part<'a>(text: &'a str, path: &[String]) -> &'a str {
    let id = single(path).map_or("bookchat".into(), |name| {
        format!("bookchat__subcmd__{name}")
    });
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("{id})") {
            if let Some(opts) = lines.next().filter(|l| l.trim().starts_with("opts=")) {
                return opts;
            }
        }
    }
    panic!("no bash branch for {id}")
}

/// zsh: the command's `_arguments` call (the first one under its name: clap's `help`
/// command repeats the names later, without arguments).
fn zsh_part<'a>(text: &'a str, path: &[String]) -> &'a str {
    let start = match single(path) {
        None => text.find("_arguments ").expect("top-level _arguments"),
        Some(name) => text
            .find(&format!("({name})\n_arguments"))
            .expect("zsh branch"),
    };
    let end = start + text[start..].find("&& ret=0").expect("end of _arguments");
    &text[start..end]
}

/// fish: the `complete` lines whose condition is the command.
fn fish_part(text: &str, path: &[String]) -> String {
    let condition = single(path).map_or("\"__fish_bookchat_needs_command\"".into(), |name| {
        format!("\"__fish_bookchat_using_subcommand {name}\"")
    });
    let lines = text.lines().filter(|l| l.contains(&condition));
    lines.collect::<Vec<_>>().join("\n")
}

/// man: the command's section, and the top-level options when it says it shares them.
fn man_part(text: &str, path: &[String]) -> String {
    let top_end = text.find(".SH COMMANDS").expect("COMMANDS section");
    let Some(name) = single(path) else {
        return text[..top_end].to_string();
    };
    let heading = format!(".SH \"COMMAND: BOOKCHAT {}\"", name.to_uppercase());
    let start = text.find(&heading).expect("the command's section");
    let end = text[start + 1..]
        .find("\n.SH ")
        .map_or(text.len(), |i| start + 1 + i);
    let section = &text[start..end];
    if section.contains("Takes the same options as") {
        format!("{section}\n{}", &text[..top_end])
    } else {
        section.to_string()
    }
}

/// What is missing where, as readable lines; empty when everything is covered.
fn missing(outputs: &Outputs) -> Vec<String> {
    let mut gaps = Vec::new();
    for node in every_command() {
        let at = std::iter::once("bookchat".to_string()).chain(node.path.clone());
        let at = at.collect::<Vec<_>>().join(" ");
        let man = man_part(&outputs.man, &node.path);
        let bash = bash_part(&outputs.bash, &node.path);
        let zsh = zsh_part(&outputs.zsh, &node.path);
        let fish = fish_part(&outputs.fish, &node.path);
        for arg in &node.args {
            let mut check = |place: &str, found: bool, what: &str| {
                if !found {
                    gaps.push(format!("{at}: {what} missing from the {place}"));
                }
            };
            if let Some(long) = arg.get_long() {
                let flag = format!("--{long}");
                check(
                    "bash completions",
                    bash.split([' ', '"']).any(|w| w == flag),
                    &flag,
                );
                let zsh_found =
                    zsh.contains(&format!("'{flag}=")) || zsh.contains(&format!("'{flag}["));
                check("zsh completions", zsh_found, &flag);
                check(
                    "fish completions",
                    fish.contains(&format!(" -l {long} ")),
                    &flag,
                );
                check("man page", man_lists_flag(&man, long), &flag);
            } else if arg.is_positional() {
                let value = arg
                    .get_value_names()
                    .map_or(arg.get_id().to_string(), |v| v.join(" "));
                check(
                    "man page",
                    man.contains(&format!("<\\fI{value}\\fR>")),
                    &value,
                );
            }
            if let Some(var) = arg.get_env().filter(|_| !arg.is_hide_env_set()) {
                let var = var.to_string_lossy();
                let mention = format!("\\fB{var}\\fR environment variable");
                check("man page", man.contains(&mention), &var);
            }
        }
    }
    gaps
}

/// An entry of the page's option lists (not merely the synopsis): a line that starts with
/// the flag, or with its short form followed by it. roff escapes each `-` as `\-`.
fn man_lists_flag(man: &str, long: &str) -> bool {
    let flag = format!("\\fB\\-\\-{}\\fR", long.replace('-', "\\-"));
    man.lines()
        .any(|line| line.starts_with(&flag) || line.contains(&format!("\\fR, {flag}")))
}

#[test]
fn completions_and_man_page_cover_every_command_flag_and_variable() {
    let gaps = missing(&outputs_of(&Cli::command()));
    assert!(gaps.is_empty(), "{}", gaps.join("\n"));
}

#[test]
fn every_command_is_offered_by_each_shell_and_has_its_section() {
    let outputs = outputs_of(&Cli::command());
    let nodes = every_command();
    let names: Vec<&str> = nodes.iter().filter_map(|n| single(&n.path)).collect();
    assert!(names.len() >= 7, "{names:?}");
    let top_bash = bash_part(&outputs.bash, &[]);
    let top_fish = fish_part(&outputs.fish, &[]);
    for name in names {
        assert!(
            top_bash.split([' ', '"']).any(|w| w == name),
            "bash: {name}"
        );
        assert!(outputs.zsh.contains(&format!("'{name}:")), "zsh: {name}");
        assert!(top_fish.contains(&format!("-a \"{name}\"")), "fish: {name}");
        assert!(
            man_part(&outputs.man, &[name.to_string()]).contains("bookchat"),
            "man: {name}"
        );
    }
}

/// The checks above can fail: outputs that lack a flag (as a stale, hand-edited or
/// differently generated file would) are reported in all four places. `clap_complete` offers
/// hidden flags anyway, so only the page can be doctored through clap: hiding a variable.
#[test]
fn outputs_that_lack_a_flag_or_variable_are_caught() {
    let doctored = Cli::command().mut_arg("port", |port| port.hide_env(true));
    let mut outputs = outputs_of(&doctored);
    let without = |text: &str, needle: &str| {
        let kept = text.lines().filter(|line| !line.contains(needle));
        kept.collect::<Vec<_>>().join("\n")
    };
    outputs.bash = outputs.bash.replace(" --json", "");
    outputs.zsh = without(&outputs.zsh, "'--json[");
    outputs.fish = without(&outputs.fish, " -l json ");
    outputs.man = without(&outputs.man, "\\fB\\-\\-json\\fR");
    let gaps = missing(&outputs);
    for place in [
        "bash completions",
        "zsh completions",
        "fish completions",
        "man page",
    ] {
        let gap = format!("bookchat stats: --json missing from the {place}");
        assert!(gaps.contains(&gap), "{gap} not reported in {gaps:?}");
    }
    let port = "bookchat: PORT missing from the man page".to_string();
    assert!(gaps.contains(&port), "{gaps:?}");
    assert_eq!(gaps.len(), 6, "only those, and serve's PORT: {gaps:?}");
}
