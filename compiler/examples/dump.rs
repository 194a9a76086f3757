//! Prints the diagnostics of a project in a plain `file:line:col severity code: message` form.

use parry_compiler::{RealFs, compile, load_project};

fn main() {
    for arg in std::env::args().skip(1) {
        let project = match load_project(std::path::Path::new(&arg), &RealFs) {
            Ok(p) => p,
            Err(e) => {
                println!("{arg}: {e}");
                continue;
            }
        };
        let c = compile(&project, &RealFs);
        for d in &c.diagnostics {
            let Some(f) = c.sources.get(d.primary.span.file) else { continue };
            let (l, col) = f.line_col(d.primary.span.start as usize);
            let sup = d.suppressed.as_ref().map(|r| format!(" [suppressed: {r}]")).unwrap_or_default();
            println!("{}:{l}:{col} {} {}: {}{sup}", f.name(), d.severity.as_str(), d.code, d.message);
            println!("    = {}", d.primary.message);
            for s in &d.secondary {
                if let Some(sf) = c.sources.get(s.span.file) {
                    let (l, col) = sf.line_col(s.span.start as usize);
                    println!("    - {}:{l}:{col}: {}", sf.name(), s.message);
                }
            }
            for n in &d.notes {
                println!("    note: {n}");
            }
            if let Some(h) = &d.help {
                println!("    help: {h}");
            }
        }
        if std::env::var("DUMP_IR").is_ok() {
            println!("{}", serde_json::to_string_pretty(&c.program).unwrap_or_default());
        }
    }
}
