//! Progress while `run` works: on a terminal, an indicatif bar (scenarios done of all, and
//! those running now) drawn on stderr; otherwise a plain line on stderr as each scenario
//! finishes; nothing with `--quiet`. Check lines printed meanwhile go through
//! [`ScenarioProgress::suspend`], so the bar never tears them.

use crate::exec::{Progress, ProgressSink};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

enum Display {
    Hidden,
    Bar(ProgressBar),
    Lines,
}

pub struct ScenarioProgress {
    display: Display,
    /// (done, all) and the scenarios running now.
    state: Mutex<(usize, usize, Vec<String>)>,
}

impl ScenarioProgress {
    /// A bar on a terminal, lines otherwise, nothing when `quiet`.
    pub fn new(quiet: bool) -> Arc<ScenarioProgress> {
        let display = if quiet {
            Display::Hidden
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{spinner} {pos}/{len} scenarios {elapsed} {wide_msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            Display::Bar(bar)
        } else {
            Display::Lines
        };
        Arc::new(ScenarioProgress { display, state: Mutex::new((0, 0, vec![])) })
    }

    /// What the executor calls.
    pub fn sink(self: &Arc<Self>) -> ProgressSink {
        let me = self.clone();
        ProgressSink(Arc::new(move |p| me.on(p)))
    }

    fn on(&self, p: Progress) {
        let Ok(mut st) = self.state.lock() else { return };
        match p {
            Progress::Planned { scenarios } => st.1 = scenarios,
            Progress::Started { id } => st.2.push(id.to_string()),
            Progress::Finished { id } => {
                st.0 += 1;
                st.2.retain(|r| r != id);
                if let Display::Lines = self.display {
                    eprintln!("progress: {}/{} scenarios done ({id})", st.0, st.1);
                }
            }
        }
        if let Display::Bar(bar) = &self.display {
            bar.set_length(st.1 as u64);
            bar.set_position(st.0 as u64);
            let running = st.2.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
            let more = st.2.len().saturating_sub(3);
            bar.set_message(if more > 0 { format!("{running} +{more}") } else { running });
        }
    }

    /// Runs `f` (which prints) with the bar out of the way.
    pub fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.display {
            Display::Bar(bar) => bar.suspend(f),
            _ => f(),
        }
    }

    /// Removes the bar (before the summary).
    pub fn finish(&self) {
        if let Display::Bar(bar) = &self.display {
            bar.finish_and_clear();
        }
    }
}
