//! Headless Chromium for the report tests: a screenshot of a page, and how many of its pixels
//! show a colour (so a test can tell a part of the page is on screen).

use super::external;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A Chromium on PATH, or (with REFEREE_REQUIRE_EXTERNAL=1, as CI sets) a failure.
pub fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output()
            && out.status.success()
        {
            return Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()));
        }
    }
    assert!(!external::external_required(), "chromium is not installed (scripts/test.sh installs Debian's chromium)");
    eprintln!("skipping the screenshot: chromium is not installed");
    None
}

/// Opens `page` (a file) in headless Chromium at `width`×`height` and writes a PNG to `shot`.
/// Nothing is fetched from the network (the pages are self-contained).
pub fn screenshot(chromium: &Path, page: &Path, shot: &Path, (width, height): (u32, u32)) {
    let profile_dir = tempfile::tempdir().unwrap();
    let status = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={width},{height}"))
        .arg(format!("--user-data-dir={}", profile_dir.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("chromium runs");
    assert!(status.success(), "chromium exited with {status}");
}

/// Pixels of `rgb` (±2 per channel) in an RGB(A) PNG, and its size.
pub fn count_color(png_path: &Path, rgb: (u8, u8, u8)) -> (usize, (u32, u32)) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).expect("screenshot")));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let step = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected PNG color type {other:?}"),
    };
    let near = |a: u8, b: u8| a.abs_diff(b) <= 2;
    let n = buf[..info.buffer_size()].chunks(step).filter(|p| near(p[0], rgb.0) && near(p[1], rgb.1) && near(p[2], rgb.2)).count();
    (n, (info.width, info.height))
}
