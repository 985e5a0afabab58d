//! Reading a secret (`{ env: NAME }` or `{ file: PATH }`): one place for the LDAP password and
//! the SCIM token. The value is trimmed; an empty one is an error. Callers wrap the value in a
//! type whose `Debug` redacts it, and never print it.

use std::path::Path;

use super::Secret;

/// Why a secret could not be read: where it was looked for, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError {
    /// `environment variable ROSTER_SCIM_TOKEN`, `file /etc/roster/ldap.pw`.
    pub source_name: String,
    pub problem: String,
}

impl Secret {
    /// Read the secret: from the environment (through `env`, so tests need not touch the
    /// process environment), or from a file relative to `base_dir`.
    pub fn read(
        &self,
        base_dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<String, SecretError> {
        let (source_name, value) = match self {
            Secret::Env(var) => {
                let name = format!("environment variable {var}");
                match env(var) {
                    Some(v) => (name, v),
                    None => {
                        return Err(SecretError {
                            source_name: name,
                            problem: "it is not set (or not UTF-8)".into(),
                        })
                    }
                }
            }
            Secret::File(path) => {
                let path = base_dir.join(path);
                let name = format!("file {}", path.display());
                match std::fs::read_to_string(&path) {
                    Ok(text) => (name, text),
                    Err(e) => {
                        return Err(SecretError {
                            source_name: name,
                            problem: e.to_string(),
                        })
                    }
                }
            }
        };
        let value = value.trim();
        if value.is_empty() {
            return Err(SecretError {
                source_name,
                problem: "it is empty".into(),
            });
        }
        Ok(value.to_owned())
    }
}
