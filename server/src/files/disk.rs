//! [`Disk`]: when the blob store is a directory, when its chunks reach the platter.
//!
//! A chunk is written without waiting for the disk, and its sync starts in the background
//! once the database counted it ([`Disk::sync_soon`]): the disk writes one chunk while
//! the next one comes over the network, as a file copied in one go would be written. Not
//! before the count: with the database on the same disk (ext4 here), its commit then
//! waited for the chunk's bytes, 3.5–4.7 ms for a chunk of 4 MiB and 11–13 ms for one of
//! 16, and the upload ran 1.16× slower (B13, docs/benchmarks.md). The upload's last
//! chunk waits for all of them ([`Disk::sync`]) before the database calls the file
//! stored, so what it stores survives a power cut as the rows do. A chunk counted but not
//! yet synced when the power went is found short when the file is checked, and the
//! upload is refused rather than stored wrong. (Syncing every chunk before answering it
//! made each of them wait for the disk in turn: the upload ran at half its speed.)

use std::path::PathBuf;

use object_store::path::Path;

use super::FileError;

/// The directory the blob store keeps its files in.
pub struct Disk {
    dir: PathBuf,
}

impl Disk {
    /// The store at `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    fn file(&self, object: &Path) -> PathBuf {
        // Ferry's object names are plain (hex, digits, dashes, slashes): the store keeps
        // them as they are, with no escaping to undo.
        self.dir.join(object.as_ref())
    }

    /// Starts writing `object` to the disk, without waiting for it.
    pub fn sync_soon(&self, object: &Path) {
        let file = self.file(object);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = sync_file(&file) {
                // `sync` at the end tries again and fails the upload if it must.
                tracing::debug!(file = %file.display(), error = %e, "an early sync failed");
            }
        });
    }

    /// Waits until `objects` and the directories naming them are on the disk.
    pub async fn sync(&self, objects: Vec<Path>) -> Result<(), FileError> {
        let files: Vec<PathBuf> = objects.iter().map(|object| self.file(object)).collect();
        tokio::task::spawn_blocking(move || {
            for file in &files {
                sync_file(file)?;
            }
            sync_dirs(&files)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|synced| synced)
        .map_err(|e| {
            FileError::Store(object_store::Error::Generic {
                store: "LocalFileSystem",
                source: Box::new(e),
            })
        })
    }
}

/// Syncs one file. Opened for writing, which Windows asks of a handle it flushes (it
/// truncates nothing).
fn sync_file(file: &std::path::Path) -> std::io::Result<()> {
    std::fs::OpenOptions::new()
        .write(true)
        .open(file)?
        .sync_all()
}

/// Syncs the directories of `files`, for the names in them: only Unix opens a directory
/// to sync it (Windows keeps a name with its file).
#[cfg(unix)]
fn sync_dirs(files: &[PathBuf]) -> std::io::Result<()> {
    let mut dirs: Vec<&std::path::Path> = files.iter().filter_map(|file| file.parent()).collect();
    dirs.dedup();
    for dir in dirs {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn sync_dirs(_files: &[PathBuf]) -> std::io::Result<()> {
    Ok(())
}
