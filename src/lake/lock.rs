//! The single writer's lock file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The writer's exclusive lock. Readers never take it. A lock left by a killed writer
/// (its pid no longer runs) is taken over.
pub struct LakeLock {
    path: PathBuf,
}

impl LakeLock {
    pub fn acquire(lake: &Path) -> io::Result<LakeLock> {
        fs::create_dir_all(lake)?;
        let path = lake.join("_lock");
        for _ in 0..3 {
            match fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut f) => {
                    writeln!(f, "{}", std::process::id())?;
                    f.sync_all()?;
                    return Ok(LakeLock { path });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let pid = fs::read_to_string(&path).unwrap_or_default().trim().parse::<u32>().ok();
                    let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists() && p != std::process::id());
                    if alive {
                        return Err(io::Error::new(
                            io::ErrorKind::WouldBlock,
                            format!(
                                "the lake {} is being written by process {} (lock file {})",
                                lake.display(),
                                pid.unwrap(),
                                path.display()
                            ),
                        ));
                    }
                    // Stale: its writer is gone.
                    let _ = fs::remove_file(&path);
                }
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::other(format!("could not take the lock {}", path.display())))
    }
}

impl Drop for LakeLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}
