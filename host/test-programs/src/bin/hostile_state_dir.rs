//! `hostile_state_dir`: looks for the host's state directory inside its
//! `/app` grant (as `files = [{ source = ".", path = "/app", mode = "rw" }]`
//! gives when the state lived in the app folder), to steal the admin
//! token and plant compiled code.
//!
//! Any request walks `/app` (at most 6 levels deep, 5,000 entries) and
//! answers `200 text/plain`, one line per find:
//! - `LEAKED <path>: <first 20 bytes>` for a readable file named
//!   `admin-token` or `compiled.key`;
//! - `WROTE <dir>/planted.cwasm` or `denied <dir>/planted.cwasm: <error>`
//!   for every directory named `compiled`;
//!
//! and last `searched <n> entries`.
#![no_main]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use wasi::http::types::{IncomingRequest, ResponseOutparam};
use wharf_test_programs::one_line;

const MAX_DEPTH: usize = 6;
const MAX_ENTRIES: usize = 5_000;

struct StateDir;

wasi::http::proxy::export!(StateDir);

impl wasi::exports::http::incoming_handler::Guest for StateDir {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        let mut report = String::new();
        let mut searched = 0;
        walk(Path::new("/app"), 0, &mut searched, &mut report);
        report.push_str(&format!("searched {searched} entries\n"));
        wharf_test_programs::respond(out, 200, &report);
    }
}

fn walk(dir: &Path, depth: usize, searched: &mut usize, report: &mut String) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if *searched >= MAX_ENTRIES {
            return;
        }
        *searched += 1;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if name == "compiled" {
                let planted = path.join("planted.cwasm");
                match std::fs::write(&planted, b"not really native code") {
                    Ok(()) => report.push_str(&format!("WROTE {}\n", planted.display())),
                    Err(e) => report.push_str(&format!(
                        "denied {}: {}\n",
                        planted.display(),
                        one_line(&e.to_string())
                    )),
                }
            }
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, searched, report);
            }
        } else if (name == "admin-token" || name == "compiled.key")
            && let Ok(bytes) = std::fs::read(&path)
        {
            let head = &bytes[..bytes.len().min(20)];
            report.push_str(&format!(
                "LEAKED {}: {}\n",
                path.display(),
                one_line(&String::from_utf8_lossy(head))
            ));
        }
    }
}
