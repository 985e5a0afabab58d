//! Roster's cache folder (`.roster/` beside the config): private files, each keyed by what it
//! holds, written whole or not at all. The SCIM intranet cache and the Entra ID delta cache
//! keep their files here. The folder carries its own `.gitignore`, so a cache of profile data
//! is never committed with the config by a careless `git add .`.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// The cache file `<stem>-<digest of key>.json` in `dir`: one file per key.
pub fn keyed_file(dir: &Path, stem: &str, key: &impl Serialize) -> PathBuf {
    let text = serde_json::to_string(key).unwrap_or_default();
    let digest = crate::digest::bytes(text.as_bytes());
    dir.join(format!("{stem}-{}.json", crate::digest::short(&digest, 16)))
}

/// Write `value` as JSON readable by its owner only (a cache holds profile data): to a
/// temporary file, then renamed over the old one, so a reader never sees half a file.
pub fn write_private(path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    write_private_with(path, |w| Ok(serde_json::to_writer(w, value)?))
}

/// Write `bytes` as [`write_private`] writes JSON: readable by its owner only, whole or not at
/// all, into a folder git ignores.
pub fn write_private_bytes(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    write_private_with(path, |w| w.write_all(bytes))
}

fn write_private_with(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir)?;
        ignore_in_git(dir);
    }
    let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = opts.open(&tmp).and_then(|f| {
        let mut w = std::io::BufWriter::new(f);
        write(&mut w)?;
        w.flush()?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// Give the cache folder `dir` a `.gitignore` that ignores everything in it, once. Best effort:
/// a folder that refuses it still caches.
fn ignore_in_git(dir: &Path) {
    let path = dir.join(".gitignore");
    if !path.exists() {
        let _ = std::fs::write(
            path,
            "# Roster's cache (profile data read from the intranet and the directory): never commit it.\n*\n",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_file_is_written_whole_into_a_folder_git_ignores() {
        let dir = tempfile::tempdir().unwrap();
        let path = keyed_file(&dir.path().join(".roster"), "users", &"key");
        write_private(&path, &serde_json::json!({ "a": 1 })).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), r#"{"a":1}"#);
        let ignore = std::fs::read_to_string(dir.path().join(".roster/.gitignore")).unwrap();
        assert!(ignore.lines().any(|l| l == "*"), "{ignore}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(
            keyed_file(dir.path(), "users", &"key"),
            keyed_file(dir.path(), "users", &"key")
        );
        assert_ne!(
            keyed_file(dir.path(), "users", &"key"),
            keyed_file(dir.path(), "users", &"other")
        );
    }
}
