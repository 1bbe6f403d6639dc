//! What a release engineer watches while a run waits on the factory: on a terminal, one live
//! line per medium and one for the installer (indicatif's `MultiProgress`); in a CI log (no
//! terminal), plain lines at the start, every 10 % and the end, and while the factory builds
//! (minutes, with nothing to show) a "still building" line every minute, so a CI log never
//! looks hung. Every plain line is written whole, under stderr's lock, so concurrent downloads
//! never interleave mid-line. A finished line stays on the terminal as plain text.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::util::mib;

/// The display shared by every line of one run; clones draw on the same terminal.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    /// Without a terminal: the lines the heartbeat looks at (started with the first line).
    watch: Option<Arc<Watch>>,
}

struct Watch {
    lines: Mutex<Vec<Watched>>,
    started: std::sync::Once,
}

/// A line the heartbeat may speak for while it waits on a build.
struct Watched {
    label: String,
    state: Weak<Mutex<LineState>>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::new()
    }
}

impl Progress {
    /// Live lines when stderr is a terminal, plain lines otherwise.
    pub fn new() -> Progress {
        let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
        Progress {
            multi: terminal.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
            watch: (!terminal).then(|| {
                Arc::new(Watch {
                    lines: Mutex::default(),
                    started: std::sync::Once::new(),
                })
            }),
        }
    }

    /// Says "still building after N s" for every line waiting on a build, every `every`, for
    /// as long as the run lasts (plain lines only: a terminal has its spinner).
    fn heartbeat(watch: Arc<Watch>, every: Duration) {
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(every);
                let mut lines = watch.lines.lock().unwrap_or_else(|e| e.into_inner());
                lines.retain(|line| line.state.strong_count() > 0);
                for line in lines.iter() {
                    let Some(state) = line.state.upgrade() else {
                        continue;
                    };
                    let since = state.lock().unwrap_or_else(|e| e.into_inner()).building;
                    if let Some(since) = since {
                        crate::util::say!(
                            "{}: still building after {} s",
                            line.label,
                            since.elapsed().as_secs()
                        );
                    }
                }
            }
        });
    }

    /// A line for one thing the run waits on, labelled `label` (a file name, "installer").
    pub fn line(&self, label: &str) -> Line {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {prefix:<24} {wide_msg}")
                    .expect("valid template"),
            );
            bar.set_prefix(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let state = Arc::new(Mutex::new(LineState {
            started: Instant::now(),
            total: None,
            next_report: 0,
            building: None,
        }));
        if let Some(watch) = &self.watch {
            watch.started.call_once(|| {
                Progress::heartbeat(Arc::clone(watch), crate::test_hooks::heartbeat());
            });
            watch
                .lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(Watched {
                    label: label.to_string(),
                    state: Arc::downgrade(&state),
                });
        }
        Line {
            bar,
            label: label.to_string(),
            state,
        }
    }

    /// A message outside the lines (a warning), above them on a terminal.
    pub fn println(&self, message: &str) {
        match &self.multi {
            Some(multi) if !multi.is_hidden() => {
                let _ = multi.println(message);
            }
            _ => crate::util::say!("{message}"),
        }
    }
}

/// One live line, or its plain-text stand-in.
pub struct Line {
    bar: Option<ProgressBar>,
    label: String,
    state: Arc<Mutex<LineState>>,
}

struct LineState {
    started: Instant,
    total: Option<u64>,
    next_report: u64,
    /// Since when the line waits on a build (a status "building…"), for the heartbeat.
    building: Option<Instant>,
}

impl Line {
    /// A step of this line's work: "building…", "digest sha256:…". Printed as a plain line
    /// (prefixed with the label) without a terminal.
    pub fn status(&self, message: &str) {
        self.state().building = message.starts_with("building").then(Instant::now);
        match &self.bar {
            Some(bar) => bar.set_message(message.to_string()),
            None => crate::util::say!("{}: {message}", self.label),
        }
    }

    /// A message worth keeping in the log on a terminal too (a retry, a resume).
    pub fn note(&self, message: &str) {
        match &self.bar {
            Some(bar) => bar.println(format!("{}: {message}", self.label)),
            None => crate::util::say!("{}: {message}", self.label),
        }
    }

    /// The body starts arriving, `from` bytes in (a resumed download).
    pub fn receiving(&self, total: Option<u64>, from: u64) {
        let mut state = self.state();
        state.building = None;
        state.total = total;
        // The start is said below; the plain lines then come at every further 10 %.
        state.next_report = total.map_or(0, |t| (from * 10 / t.max(1) + 1) * t / 10);
        match &self.bar {
            Some(bar) => {
                if let Some(total) = total {
                    bar.set_length(total);
                }
                bar.set_position(from);
                let template = if total.is_some() {
                    "{spinner} {prefix:<24} {bytes}/{total_bytes} [{bar:30}] {bytes_per_sec}, {eta} left"
                } else {
                    "{spinner} {prefix:<24} {bytes} {bytes_per_sec}"
                };
                bar.set_style(ProgressStyle::with_template(template).expect("valid template"));
                bar.reset_elapsed();
            }
            None => crate::util::say!(
                "{}: receiving {} after {:.0} s",
                self.label,
                total
                    .map(mib)
                    .unwrap_or_else(|| "a file of unannounced size".into()),
                state.started.elapsed().as_secs_f64()
            ),
        }
    }

    /// `received` bytes are in.
    pub fn advance(&self, received: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(received);
            return;
        }
        let mut state = self.state();
        let Some(total) = state.total.filter(|&t| t > 0) else {
            return;
        };
        if received >= state.next_report {
            let percent = received * 100 / total;
            if received < total {
                crate::util::say!(
                    "{}: received {} of {} ({percent}%)",
                    self.label,
                    mib(received),
                    mib(total)
                );
            }
            state.next_report = (percent / 10 + 1) * 10 * total / 100;
        }
    }

    /// The line's work is done: `message` stays on the terminal, and goes to the log.
    pub fn finish(&self, message: &str) {
        let seconds = {
            let mut state = self.state();
            state.building = None;
            state.started.elapsed().as_secs_f64()
        };
        let message = format!("{message} ({seconds:.1} s)");
        match &self.bar {
            // Printed above the live lines as plain text, so it stays in the scrollback when
            // the display is torn down at the end of the run.
            Some(bar) => {
                bar.println(format!("  {:<24} {message}", self.label));
                bar.finish_and_clear();
            }
            None => crate::util::say!("{}: {message}", self.label),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, LineState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar
            && !bar.is_finished()
        {
            bar.finish_and_clear();
        }
    }
}
