//! Registry passwords as users write them: `$(aws ecr get-login-password)` is run on this
//! machine and its output used (what SkyPilot's docs promise for SKYPILOT_DOCKER_PASSWORD);
//! a `_json_key` password may name the key file. Neither the command nor its output is ever
//! put in an error.

use std::path::Path;

/// Why a password could not be resolved (never containing the command or its output).
#[derive(Debug)]
pub struct PasswordError {
    /// What failed.
    pub message: String,
    /// What to do.
    pub hint: &'static str,
}

/// The password `raw` stands for.
pub fn resolve_password(raw: &str, user: &str) -> Result<String, PasswordError> {
    let t = raw.trim();
    if let Some(cmd) = t.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(cmd)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .map_err(|e| PasswordError {
                message: format!("cannot run the registry password command: {e}"),
                hint: "check that /bin/sh exists",
            })?;
        if !out.status.success() {
            return Err(PasswordError {
                message: format!("the registry password command failed ({})", out.status),
                hint: "run it by hand to see why (expired cloud login?)",
            });
        }
        return Ok(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    if user == "_json_key" && Path::new(t).is_file() {
        return std::fs::read_to_string(t).map_err(|e| PasswordError {
            message: format!("cannot read the _json_key file: {e}"),
            hint: "check the path in the password",
        });
    }
    Ok(raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_plain() {
        assert_eq!(
            resolve_password("$(printf s3cr3t)", "u").expect("cmd"),
            "s3cr3t"
        );
        assert_eq!(resolve_password("plain", "u").expect("plain"), "plain");
        let e = resolve_password("$(echo leaked; exit 3)", "u").expect_err("fails");
        assert!(!e.message.contains("leaked") && !e.message.contains("echo"));
    }
}
