//! Runs the `vigil-demo` binary as a user would from a shell pipeline.

use std::io::Read;
use std::process::{Command, Stdio};

/// A reader that leaves early, as `vigil-demo 2>&1 >/dev/null | head -1` does, closes the
/// pipe behind stderr. The demo's progress lines are informational, so the run must go on
/// and exit as usual instead of panicking on the failed write.
#[test]
fn demo_survives_closed_stderr() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil-demo"))
        .args(["--nodes", "2", "--payments", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("vigil-demo should start");
    drop(child.stderr.take());

    let mut summary = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut summary)
        .expect("stdout should be readable");
    let status = child.wait().expect("vigil-demo should be waited for");

    assert_eq!(status.code(), Some(0), "summary:\n{summary}");
    assert!(summary.contains("payments"), "summary:\n{summary}");
}
