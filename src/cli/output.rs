//! Standard output for every command, and progress bars on standard error.

use std::io::IsTerminal;

/// Set once a write to standard output found its reader gone. Writers such as arrow's
/// CSV writer turn the io::Error into text, so the error alone cannot tell.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The error, or one it wraps, is standard output's reader having gone away.
pub(super) fn closed_stdout(e: &anyhow::Error) -> bool {
    STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
        || e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// Standard output for every command: remembers a closed pipe (see [`STDOUT_CLOSED`]).
pub(crate) struct Stdout(std::io::StdoutLock<'static>);

pub(crate) fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).inspect_err(note_closed)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().inspect_err(note_closed)
    }
}

fn note_closed(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `println!` that returns the write error instead of panicking on a closed stdout.
macro_rules! outln {
    () => {{
        use std::io::Write as _;
        writeln!($crate::cli::output::stdout())?
    }};
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!($crate::cli::output::stdout(), $($t)*)?
    }};
}

pub(crate) use outln;

/// A progress bar on stderr when it is a terminal and the job is large enough to wait for.
pub(crate) fn progress_bar(len: Option<u64>, what: &str) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() || len.is_some_and(|l| l < (16 << 20)) {
        return None;
    }
    let pb = match len {
        Some(l) => indicatif::ProgressBar::new(l).with_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        ),
        None => indicatif::ProgressBar::new_spinner(),
    };
    pb.set_message(what.to_string());
    Some(pb)
}
