//! A large file is parsed on several threads: the result must be exactly the one-thread
//! parse, broken declarations included, in file order.

use parry_syntax::ast::FileId;

#[test]
fn parallel_parse_is_the_sequential_parse() {
    // A byte-order mark, which the scan blanks like comments, tabs and carriage returns.
    let mut src = String::from("\u{feff}");
    let mut i = 0;
    // Well over the size from which `parse` uses threads (256 KiB).
    while src.len() < 400 * 1024 {
        src.push_str(&format!(
            "## Item {i}.\nfn f{i}(a: int, b: string = \"x{{a}}\") -> int {{\n  let c = a * 2 + len(b)\n  c\n}}\n\n"
        ));
        if i % 13 == 0 {
            // Tabs, CRLF line ends, comments and text that is not ASCII.
            src.push_str(&format!(
                "# Plain comment {i} é\r\nconst T{i}: string = \"日本 \\\"q\\\" — {i}\"\r\nfn g{i}() {{\r\n\tlet x = 1 # trailing\r\n\tx\r\n}}\r\n"
            ));
        }
        if i % 97 == 0 {
            // A broken declaration: reported, and the next ones still parse.
            src.push_str(&format!("const BROKEN_{i}: int = (1 +\n\n"));
        }
        i += 1;
    }
    let (par_file, par_diags) = parry_syntax::parse(FileId(1), &src);
    let (seq_file, seq_diags) = parry_syntax::parse_sequential(FileId(1), &src);
    assert!(par_file.items.len() > 1000, "{} items", par_file.items.len());
    assert!(!par_diags.is_empty());
    assert_eq!(format!("{par_file:?}"), format!("{seq_file:?}"));
    assert_eq!(format!("{par_diags:?}"), format!("{seq_diags:?}"));
}
