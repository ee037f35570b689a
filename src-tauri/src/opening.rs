//! Opening a downloaded file with the system's default application. The cache keeps
//! files under their attachment's id, without a name the system could choose an
//! application by, so the file is opened from a copy under its own name ([`named_copy`]),
//! in a folder of the app's own that only this user may read ([`private_folder`]); on
//! Windows the copy carries the mark of a file from the internet, as a browser's
//! download does.
//!
//! Only passive types are opened from the app ([`opens_directly`]): documents, pictures,
//! sound, video and text. Anything else (a program, a script, an installer, a shortcut,
//! a disk image, an archive, a type nobody listed) the user saves and decides about, as
//! Signal Desktop does. [`NotOpened`] says why a file was not opened, in words that
//! offer Save instead.

use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

/// Extensions of the files opened with the system's default application: types whose
/// usual applications show them without running anything they hold. An allow-list: the
/// list of runnable types it replaced let 25 through in the security review of issue 33
/// (.chm, .url, .scf, .iso, .library-ms, .jnlp, .terminal, .webloc among them), and every
/// system keeps adding more. Left out on purpose, so saved instead:
/// - archives (zip, tar.gz, 7z, rar): they hold anything, programs too, one double-click
///   from running past this check (macOS's Archive Utility unpacks a zip as it opens it,
///   and nothing marks what comes out as quarantined);
/// - disk images (iso, img, vhdx, dmg): mounted when opened, with whatever they run;
/// - web pages, SVG and XML (html, svg, xml, mht): a browser runs their scripts, from
///   `file:` where they may read other local files;
/// - office files that may hold macros or embedded objects (docm, xlsm, pptm, and the
///   older doc, xls, ppt, rtf);
/// - playlists (m3u, pls): they name other files and addresses for the player to fetch.
///
/// CSV is in: spreadsheets read it as data, and the formulas some try to hide in it are
/// the spreadsheet's to warn about, as with any downloaded CSV.
#[rustfmt::skip]
const OPENS_DIRECTLY: &[&str] = &[
    // Documents and text.
    "pdf", "docx", "xlsx", "pptx", "odt", "ods", "odp", "txt", "md", "log", "csv",
    // Pictures.
    "jpg", "jpeg", "png", "gif", "webp", "bmp", "heic", "heif", "avif", "tif", "tiff",
    // Sound.
    "mp3", "m4a", "aac", "ogg", "oga", "opus", "wav", "flac",
    // Video.
    "mp4", "m4v", "mov", "webm", "mkv", "avi",
];

/// Whether a file of this name is opened with the system's default application: its
/// name, as the copy is named on disk, ends in an extension of [`OPENS_DIRECTLY`], and
/// it is the name the window shows (`plainFileName` in `ui/src/lib/bidi.ts` leaves out
/// the invisible characters that make `invoice<U+202E>gnp.exe` read as `invoiceexe.png`).
pub fn opens_directly(name: &str) -> bool {
    if name.chars().any(disguises) {
        return false;
    }
    file_name(name)
        .rsplit_once('.')
        .is_some_and(|(_, ext)| OPENS_DIRECTLY.contains(&ext.to_ascii_lowercase().as_str()))
}

/// Characters that change how text reads without showing: bidirectional embeddings,
/// overrides, isolates and marks, zero-width characters, the byte-order mark (the set
/// the window and the CLI leave out of file names).
fn disguises(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}'
            | '\u{FEFF}'
    )
}

/// A name fit for this system's file system: the last component of `name`, without
/// characters Windows refuses, never empty, and the name Windows would really give the
/// file (it drops trailing dots and spaces, so that `evil.exe.` is `evil.exe`, and
/// `CON.txt` names the console, not a file).
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
    let clean = clean
        .trim_start_matches(|c: char| c == '.' || c.is_whitespace())
        .trim_end_matches(|c: char| c == '.' || c.is_whitespace());
    if clean.is_empty() {
        return "file".into();
    }
    let stem = clean.split('.').next().unwrap_or_default().trim_end();
    if names_a_device(stem) {
        format!("_{clean}")
    } else {
        clean.to_owned()
    }
}

/// Whether Windows takes a file name with this stem for a device, whatever its extension.
fn names_a_device(stem: &str) -> bool {
    let stem = stem.to_ascii_uppercase();
    let port = stem
        .strip_prefix("COM")
        .or_else(|| stem.strip_prefix("LPT"));
    matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || matches!(port.map(str::as_bytes), Some([b'1'..=b'9']))
}

/// Makes `path` (and the folders above it that are missing), readable by this user
/// only. Copies to be opened once went to the system's temporary folder, which every
/// user of the computer may read, and where another could have put a link in the place
/// of a copy about to be written.
pub fn private_folder(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(path)?;
        // A folder that was there already (made with other bits) is made private too.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    }
    // Under the user's profile, whose permissions are the user's alone.
    #[cfg(not(unix))]
    std::fs::create_dir_all(path)?;
    Ok(())
}

/// A copy of `cached` named `name`, in a folder of this attachment's own under `root`
/// (`folder`: its id, or its message's while it was not uploaded yet), a private folder
/// (made once; opened again as it is).
pub fn named_copy(root: &Path, folder: Uuid, cached: &Path, name: &str) -> io::Result<PathBuf> {
    private_folder(root)?;
    let dir = root.join(folder.to_string());
    private_folder(&dir)?;
    let path = dir.join(file_name(name));
    if !path.exists() {
        std::fs::copy(cached, &path)?;
        #[cfg(windows)]
        if let Err(e) = mark_from_internet(&path) {
            // A FAT or exFAT drive has no streams: the copy is opened unmarked, as a
            // browser's download there would be.
            tracing::warn!(error = %e, "could not mark the copy as from the internet");
        }
    }
    Ok(path)
}

/// Marks a file as downloaded from the internet, as browsers and Signal Desktop do: the
/// `Zone.Identifier` stream that Windows reads ("Mark of the Web"), so that Office opens
/// it in Protected View and SmartScreen checks what is run from it.
#[cfg(windows)]
fn mark_from_internet(path: &Path) -> io::Result<()> {
    let mut stream = path.as_os_str().to_owned();
    stream.push(":Zone.Identifier");
    // Zone 3 is the Internet zone.
    std::fs::write(stream, "[ZoneTransfer]\r\nZoneId=3\r\n")
}

/// Why a file was not opened; each says to save it instead.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotOpened {
    /// Not a type [`opens_directly`] lets through.
    #[error(
        "{name} could run a program on this computer, so Ferry does not open it; save it, and open it yourself if you trust it"
    )]
    MayRunCode {
        /// The file's name, without the characters that would disguise it.
        name: String,
    },
    /// The system has no application for it.
    #[error("No application on this computer opens {kind} files; save it instead")]
    NoApplication {
        /// Its extension (".pdf"), or words for a file without one.
        kind: String,
    },
    /// The system's launcher failed.
    #[error("the file could not be opened ({0}); save it instead")]
    Failed(String),
}

impl NotOpened {
    /// A file named `name` is not of a type opened from the app.
    pub fn may_run_code(name: &str) -> Self {
        Self::MayRunCode {
            name: name.chars().filter(|&c| !disguises(c)).collect(),
        }
    }

    /// Nothing on this system opens the file at `path`.
    pub fn no_application(path: &Path) -> Self {
        Self::NoApplication {
            kind: path
                .extension()
                .map_or("these".into(), |ext| format!(".{}", ext.to_string_lossy())),
        }
    }

    /// What the launcher's failure to open `path` means for the user. The opener reports
    /// as an I/O error both a launcher that failed at once (`xdg-open`, `gio open` and
    /// macOS's `open` exit so when nothing opens the type: "Launcher "xdg-open" "…"
    /// failed with ExitStatus(…)" is what users were shown) and no launcher at all; on
    /// Windows, "no application is associated". Each means nothing here opens it.
    pub fn launcher(path: &Path, e: &tauri_plugin_opener::Error) -> Self {
        match e {
            tauri_plugin_opener::Error::Io(_) => Self::no_application(path),
            _ => Self::Failed(e.to_string()),
        }
    }
}

/// Whether some application on this system opens files like `path`, by the same
/// freedesktop.org MIME database and default applications that `xdg-open` asks. Asked
/// before launching: the opener hears a launcher's failure only when it comes within a
/// quarter of a second, and a click should not do nothing because one was slower.
#[cfg(all(unix, not(target_os = "macos")))]
pub fn has_application(path: &Path) -> bool {
    use gtk::gio;
    let (content_type, _) = gio::content_type_guess(Some(path), &[]);
    gio::AppInfo::default_for_type(&content_type, false).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type the security review of issue 33 found opened.
    const FOUND_IN_REVIEW: &[&str] = &[
        "chm",
        "url",
        "scf",
        "iso",
        "img",
        "vhdx",
        "msix",
        "appx",
        "appinstaller",
        "library-ms",
        "settingcontent-ms",
        "xll",
        "psm1",
        "py",
        "pyw",
        "wsh",
        "msc",
        "jnlp",
        "application",
        "docm",
        "terminal",
        "webloc",
        "fileloc",
        "scpt",
        "workflow",
    ];

    #[test]
    fn every_type_the_review_found_is_refused() {
        for ext in FOUND_IN_REVIEW {
            assert!(!opens_directly(&format!("file.{ext}")), "{ext}");
            assert!(
                !opens_directly(&format!("FILE.{}", ext.to_uppercase())),
                "{ext}"
            );
        }
    }

    #[test]
    fn programs_scripts_pages_and_containers_are_refused() {
        for name in [
            "setup.exe",
            "Run.BAT",
            "x.sh",
            "app.desktop",
            "a.tar.js",
            "page.html",
            "drawing.svg",
            "archive.zip",
            "archive.tar.gz",
            "disk.dmg",
            "macros.xlsm",
            "old.doc",
        ] {
            assert!(!opens_directly(name), "{name}");
        }
    }

    #[test]
    fn passive_types_are_opened() {
        for name in [
            "photo.jpg",
            "Photo.JPEG",
            "scan.png",
            "notes.pdf",
            "report.docx",
            "sheet.xlsx",
            "slides.pptx",
            "essay.odt",
            "README.txt",
            "song.mp3",
            "voice.opus",
            "clip.mp4",
            "clip.MOV",
            "a.exe.pdf",
        ] {
            assert!(opens_directly(name), "{name}");
        }
    }

    #[test]
    fn tricks_with_the_name_are_refused() {
        for name in [
            // Windows drops trailing dots and spaces: this is evil.exe on disk.
            "evil.exe. ",
            "evil.exe...",
            "evil.exe\u{3000}",
            // The last extension is the one the system goes by.
            "a.pdf.exe",
            "a.jpg.scr",
            // No extension: Linux would sniff the content (a .desktop entry, a script).
            "README",
            "exe",
            ".pdf",
            "pdf.",
            "",
            // Read as invoiceexe.png, or report.pdf; the first is an .exe.
            "invoice\u{202E}gnp.exe",
            "report\u{202E}fdp.txt",
            "photo\u{2067}.jpg",
            "photo.jpg\u{200F}",
            "photo\u{200B}.jpg",
            // A stream of an NTFS file, and a path into another folder.
            "a.pdf:evil.exe",
            "../../x.pdf/evil.exe",
            // Fullwidth letters are other letters.
            "a.\u{FF50}\u{FF44}\u{FF46}",
        ] {
            assert!(!opens_directly(name), "{name:?}");
        }
        // A trailing dot is dropped by Windows, leaving what was checked.
        assert!(opens_directly("a.pdf."));
        assert_eq!(file_name("a.pdf. "), "a.pdf");
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(file_name("../../etc/passwd"), "passwd");
        assert_eq!(file_name(r"C:\x\report?.pdf"), "report_.pdf");
        assert_eq!(file_name(".hidden"), "hidden");
        assert_eq!(file_name(""), "file");
        assert_eq!(file_name(".."), "file");
        assert_eq!(file_name("evil.exe. . "), "evil.exe");
        assert_eq!(file_name("a.pdf:Zone.Identifier"), "a.pdf_Zone.Identifier");
        assert_eq!(file_name("CON.txt"), "_CON.txt");
        assert_eq!(file_name("lpt1 .pdf"), "_lpt1 .pdf");
        assert_eq!(file_name("com10.txt"), "com10.txt");
        assert_eq!(file_name("console.txt"), "console.txt");
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

    #[cfg(unix)]
    #[test]
    fn copies_are_in_folders_only_this_user_reads() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("dir");
        let cached = dir.path().join("cached");
        std::fs::write(&cached, b"bytes").expect("write");
        let root = dir.path().join("data/opened");
        // Made before with the usual bits (by an older version, say).
        std::fs::create_dir_all(&root).expect("root");
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let copy = named_copy(&root, Uuid::from_u128(7), &cached, "notes.pdf").expect("copy");
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&root), 0o700);
        assert_eq!(mode(copy.parent().expect("its folder")), 0o700);
    }

    #[cfg(windows)]
    #[test]
    fn a_copy_is_marked_as_from_the_internet() {
        let dir = tempfile::tempdir().expect("dir");
        let cached = dir.path().join("cached");
        std::fs::write(&cached, b"bytes").expect("write");
        let copy = named_copy(dir.path(), Uuid::from_u128(7), &cached, "notes.pdf").expect("copy");
        let mut stream = copy.into_os_string();
        stream.push(":Zone.Identifier");
        let mark = std::fs::read_to_string(stream).expect("the mark");
        assert!(mark.contains("ZoneId=3"), "{mark}");
    }

    #[test]
    fn the_refusal_does_not_repeat_the_disguise() {
        let refusal = NotOpened::may_run_code("invoice\u{202E}gnp.exe").to_string();
        assert!(
            refusal.starts_with("invoicegnp.exe could run a program"),
            "{refusal}"
        );
        assert!(refusal.contains("save it"), "{refusal}");
    }

    #[test]
    fn a_launcher_that_fails_means_no_application() {
        let path = Path::new("/data/opened/x/notes.pdf");
        let exited = io::Error::other(
            r#"Launcher "xdg-open" "/data/opened/x/notes.pdf" failed with ExitStatus(unix_wait_status(768))"#,
        );
        for failed in [exited, io::ErrorKind::NotFound.into()] {
            let refused = NotOpened::launcher(path, &tauri_plugin_opener::Error::Io(failed));
            assert_eq!(
                refused,
                NotOpened::NoApplication {
                    kind: ".pdf".into()
                }
            );
            assert_eq!(
                refused.to_string(),
                "No application on this computer opens .pdf files; save it instead"
            );
        }
        let other = tauri_plugin_opener::Error::UnknownProgramName("viewer".into());
        assert!(matches!(
            NotOpened::launcher(path, &other),
            NotOpened::Failed(_)
        ));
    }
}
