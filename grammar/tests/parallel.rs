//! Parsing on several threads gives exactly what one thread gives: a large file split over
//! threads (broken declarations included, in file order), and files parsed on several
//! threads at once (their syntax errors included).

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

#[test]
fn syntax_errors_read_the_same_when_files_are_parsed_on_several_threads_at_once() {
    // Explaining a syntax error turns on pest's detailed error collection (one switch for the
    // process) for the parse that explains it; another thread's explanation must not turn it
    // off in between. Without the lock that prevents it, this failed in two runs of three.
    let broken = [
        "const A: int = (1 +\n",
        "playbook p(a: Alert) {\n  let x = \n}\n",
        "fn f(a: int -> int { a }\n",
        "connector c {\n  action a(x: string) effect\n}\n",
        "type T = { a: int, b: }\n",
        "test \"t\" {\n  expect 1 ==\n}\n",
        "enum E { a, b,, c }\n",
        "playbook q(a: Alert) {\n  match a.kind {\n    \"x\" => \n  }\n}\n",
    ];
    let reference: Vec<String> =
        broken.iter().map(|src| format!("{:?}", parry_syntax::parse_sequential(FileId(0), src).1)).collect();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let (broken, reference) = (&broken, &reference);
            scope.spawn(move || {
                for round in 0..300 {
                    let i = (t + round) % broken.len();
                    let got = format!("{:?}", parry_syntax::parse_sequential(FileId(0), broken[i]).1);
                    assert_eq!(got, reference[i], "thread {t}, round {round}: {}", broken[i]);
                }
            });
        }
    });
}
