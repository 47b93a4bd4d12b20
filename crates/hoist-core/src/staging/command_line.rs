//! The argv the runner executes: the user's command with `{config_path}` filled in and args
//! mode's flags appended, so every platform's runner starts the command the same way.

use crate::spec::Command;
use serde_json::Value;
use std::collections::BTreeMap;

/// Args mode: `{"epochs": 3, "lr": 0.1, "amp": true}` → `--epochs 3 --lr 0.1 --amp`. A
/// `false` or null flag is left out; a list repeats the flag.
pub fn args_words(args: &BTreeMap<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for (k, v) in args {
        let flag = if k.starts_with('-') {
            k.clone()
        } else {
            format!("--{k}")
        };
        let mut push = |v: &Value| match v {
            Value::Bool(true) => out.push(flag.clone()),
            Value::Bool(false) | Value::Null => {}
            Value::String(s) => {
                out.push(flag.clone());
                out.push(s.clone());
            }
            other => {
                out.push(flag.clone());
                out.push(other.to_string());
            }
        };
        match v {
            Value::Array(items) => items.iter().for_each(&mut push),
            v => push(v),
        }
    }
    out
}

/// The command with `{config_path}` replaced and args mode's flags appended, as the argv
/// the runner executes. Shell strings get the flags quoted in.
pub fn final_argv(
    command: &Command,
    shell: Option<&str>,
    config_path: Option<&str>,
    extra: &[String],
) -> Vec<String> {
    let sub = |w: &str| match config_path {
        Some(p) => w.replace("{config_path}", p),
        None => w.to_string(),
    };
    match command {
        Command::Argv(a) => a
            .iter()
            .map(|w| sub(w))
            .chain(extra.iter().cloned())
            .collect(),
        Command::Shell(s) => {
            let mut script = sub(s);
            for w in extra {
                script.push(' ');
                script.push_str(&crate::spec::sh_quote(w));
            }
            vec![shell.unwrap_or("/bin/sh").to_string(), "-c".into(), script]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn args_and_commands() {
        let mut args = BTreeMap::new();
        args.insert("epochs".to_string(), json!(3));
        args.insert("amp".to_string(), json!(true));
        args.insert("off".to_string(), json!(false));
        args.insert("data".to_string(), json!("/in/it's here"));
        let words = args_words(&args);
        assert_eq!(
            words,
            vec!["--amp", "--data", "/in/it's here", "--epochs", "3"]
        );
        let argv = final_argv(
            &Command::Argv(vec!["train".into(), "-c".into(), "{config_path}".into()]),
            None,
            Some("/r/spec.yaml"),
            &words,
        );
        assert_eq!(argv[2], "/r/spec.yaml");
        assert_eq!(argv[5], "/in/it's here", "argv words are never quoted");
        let sh = final_argv(
            &Command::Shell("train -c {config_path} && echo ok".into()),
            None,
            Some("/s"),
            &words,
        );
        assert_eq!(sh[0], "/bin/sh");
        assert!(
            sh[2].starts_with("train -c /s && echo ok --amp --data '/in/it'\"'\"'s here'"),
            "{}",
            sh[2]
        );
    }
}
