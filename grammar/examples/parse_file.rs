//! Parses the files given on the command line and prints the diagnostics (a debugging aid).
use parry_syntax::ast::FileId;

fn main() {
    for path in std::env::args().skip(1) {
        let Ok(src) = std::fs::read_to_string(&path) else {
            eprintln!("{path}: cannot read");
            continue;
        };
        let (file, diags) = parry_syntax::parse(FileId(0), &src);
        println!("{path}: {} items, {} comments", file.items.len(), file.comments.len());
        for d in diags {
            let line = src[..d.primary.span.start as usize].matches('\n').count() + 1;
            println!("  {line}: {} {} [{}]", d.code, d.message, d.primary.message);
            for s in &d.secondary {
                let l = src[..s.span.start as usize].matches('\n').count() + 1;
                println!("     {l}: {}", s.message);
            }
        }
    }
}
