//! Opening a downloaded file with the system's default application. The cache keeps
//! files under their attachment's id, without a name the system could choose an
//! application by, so the file is opened from a copy under its own name ([`named_copy`]).
//! A file whose name says it runs code when opened (a program, a script, an installer,
//! a shortcut) is not opened from the app: the user saves it and decides
//! ([`runs_code`]), as Signal Desktop does.

use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Extensions of files that run code when opened, on any of the three systems.
const RUNNABLE: &[&str] = &[
    "app", "appimage", "apk", "bat", "cmd", "com", "command", "cpl", "deb", "desktop", "dmg",
    "exe", "hta", "jar", "js", "jse", "lnk", "msi", "msp", "pif", "pkg", "ps1", "reg", "rpm",
    "run", "scr", "sh", "vb", "vbe", "vbs", "ws", "wsf",
];

/// Whether opening a file of this name would run code.
pub fn runs_code(name: &str) -> bool {
    let name = name.trim_end_matches(['.', ' ']).to_ascii_lowercase();
    name.rsplit_once('.')
        .is_some_and(|(_, ext)| RUNNABLE.contains(&ext))
}

/// A name fit for this system's file system: the last component of `name`, without
/// characters Windows refuses, and never empty.
pub fn file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = last
        .chars()
        .map(|c| {
            if c.is_control() || r#"<>:"|?*"#.contains(c) {
                '_'
            } else {
                c
            }
        })
        .collect();
    let clean = clean.trim().trim_start_matches('.').to_owned();
    if clean.is_empty() {
        "file".into()
    } else {
        clean
    }
}

/// A copy of `cached` named `name`, in a folder of this attachment's own under `root`
/// (made once; opened again as it is).
pub fn named_copy(
    root: &Path,
    attachment: Uuid,
    cached: &Path,
    name: &str,
) -> std::io::Result<PathBuf> {
    let dir = root.join(attachment.to_string());
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(file_name(name));
    if !path.exists() {
        std::fs::copy(cached, &path)?;
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_and_scripts_are_not_opened() {
        for name in [
            "setup.exe",
            "Run.BAT",
            "x.sh",
            "app.desktop",
            "a.tar.js",
            "evil.exe. ",
        ] {
            assert!(runs_code(name), "{name}");
        }
        for name in ["photo.jpg", "notes.pdf", "archive.tar.gz", "README", "exe"] {
            assert!(!runs_code(name), "{name}");
        }
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(file_name("../../etc/passwd"), "passwd");
        assert_eq!(file_name(r"C:\x\report?.pdf"), "report_.pdf");
        assert_eq!(file_name(".hidden"), "hidden");
        assert_eq!(file_name(""), "file");
    }

    #[test]
    fn a_copy_has_the_files_name() {
        let dir = tempfile::tempdir().expect("dir");
        let cached = dir.path().join("cached");
        std::fs::write(&cached, b"bytes").expect("write");
        let id = Uuid::from_u128(7);
        let copy = named_copy(&dir.path().join("open"), id, &cached, "notes.pdf").expect("copy");
        assert!(copy.ends_with(format!("{id}/notes.pdf")));
        assert_eq!(std::fs::read(copy).expect("read"), b"bytes");
    }
}
