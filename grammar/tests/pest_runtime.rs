//! Checks of the changes to pest's runtime in `vendor/pest` (see its `PATCHES.md`), through
//! pest's public API: the `PUSH`/`POP` stack still rewinds exactly when snapshots taken on
//! an empty stack are not recorded, the line index still gives the right line and column
//! after multi-byte characters, and character ranges and tests read one whole character
//! whether it is ASCII or not.

use pest::{ParseResult, ParserState};

#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
enum Rule {
    Mark,
}

type State<'i> = Box<ParserState<'i, Rule>>;

fn parses<'i>(input: &'i str, f: impl FnOnce(State<'i>) -> ParseResult<State<'i>>) -> bool {
    pest::state(input, f).is_ok()
}

fn push_a<'i>(s: State<'i>) -> ParseResult<State<'i>> {
    s.stack_push(|s| s.match_string("a"))
}

#[test]
fn a_push_in_a_failed_sequence_is_undone_though_the_snapshots_before_it_were_not_recorded() {
    // Two snapshots are taken before anything was pushed; the push happens inside the inner
    // one, which then fails. Its snapshot must rewind the push.
    assert!(
        !parses("ab", |s| {
            s.sequence(|s| {
                s.sequence(|s| push_a(s).and_then(|s| s.match_string("x")))
                    .or_else(|s| s.match_string("a"))
                    .and_then(|s| s.stack_drop())
            })
        }),
        "the push of the failed sequence is still on the stack"
    );

    // The same push in a sequence that succeeds stays on the stack.
    assert!(parses("ab", |s| s.sequence(|s| s.sequence(push_a).and_then(|s| s.stack_drop()))));
}

#[test]
fn an_outer_sequence_that_fails_undoes_a_push_made_in_an_inner_one_that_succeeded() {
    assert!(
        !parses("ab", |s| {
            s.sequence(|s| s.sequence(push_a).and_then(|s| s.match_string("x"))).or_else(|s| s.stack_drop())
        }),
        "the outer snapshot did not rewind the push"
    );
}

#[test]
fn a_pop_in_a_failed_sequence_is_undone_once_the_stack_is_in_use() {
    // Push "a", then drop it in a sequence that fails: the element comes back, and matching
    // the stack's content then consumes the second "a".
    assert!(parses("aa", |s| {
        push_a(s)
            .and_then(|s| s.sequence(|s| s.stack_drop().and_then(|s| s.match_string("x"))).or_else(Ok))
            .and_then(|s| s.stack_match_pop())
            .and_then(|s| s.end_of_input())
    }));
    // Dropped for good in a sequence that succeeds: nothing is left to match the second "a".
    assert!(parses("aa", |s| {
        push_a(s)
            .and_then(|s| s.sequence(|s| s.stack_drop()))
            .and_then(|s| s.stack_match_pop())
            .and_then(|s| s.match_string("a"))
            .and_then(|s| s.end_of_input())
    }));
    assert!(!parses("aa", |s| {
        push_a(s).and_then(|s| s.sequence(|s| s.stack_drop())).and_then(|s| s.stack_drop())
    }));
}

/// In a sequence: drop the top of the stack, push "b" in a sequence that fails, drop again.
fn inner_then_drop<'i>(s: State<'i>) -> ParseResult<State<'i>> {
    s.sequence(|s| {
        s.stack_drop()
            .and_then(|s| {
                s.sequence(|s| s.stack_push(|s| s.match_string("b")).and_then(|s| s.match_string("x")))
                    .or_else(Ok)
            })
            .and_then(|s| s.stack_drop())
    })
}

#[test]
fn a_snapshot_taken_on_an_empty_stack_inside_a_recorded_one_rewinds_to_empty() {
    // "a" is pushed, then a sequence (recorded: the stack holds "a") drops it. Inside, with
    // the stack empty again, a sequence pushes "b" and fails: the stack must be empty after
    // it, not "a" again, so the second drop fails, and with it the outer sequence.
    assert!(!parses("ab", |s| push_a(s).and_then(inner_then_drop)));
    // The outer sequence failed, so "a" is back: it matches the next "a" of the input.
    assert!(parses("aa", |s| {
        push_a(s).and_then(|s| inner_then_drop(s).or_else(Ok)).and_then(|s| s.stack_match_pop())
    }));
}

#[test]
fn a_push_under_many_unrecorded_snapshots_is_undone_at_the_right_depth() {
    // 100 nested sequences before the first push; the push is in the innermost, and the
    // 50th from the inside fails: the stack must be empty after it, whatever the depth.
    fn nest<'i>(s: State<'i>, depth: usize) -> ParseResult<State<'i>> {
        if depth == 0 {
            return push_a(s);
        }
        s.sequence(|s| {
            let s = nest(s, depth - 1)?;
            if depth == 50 { s.match_string("x") } else { Ok(s) }
        })
    }
    assert!(!parses("ab", |s| s.sequence(|s| nest(s, 100)).or_else(|s| s.stack_drop())));
}

#[test]
fn line_and_column_count_characters_after_multi_byte_text() {
    let input = "é\nab\n🎈x\n";
    let pairs = pest::state(input, |s| {
        s.match_string("é\nab\n🎈").and_then(|s| s.rule(Rule::Mark, |s| s.match_string("x")))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mark = pairs.into_iter().next().unwrap_or_else(|| panic!("no pair"));
    assert_eq!(mark.line_col(), (3, 2));
    assert_eq!(mark.as_span().end_pos().line_col(), (3, 3));
}

/// How far `f` gets in `input`: the end of the match, or `None`.
fn matched<'i>(input: &'i str, f: impl FnOnce(State<'i>) -> ParseResult<State<'i>>) -> Option<usize> {
    let mut end = None;
    let _ = pest::state(input, |s| {
        let s = f(s)?;
        end = Some(s.position().pos());
        Ok(s)
    });
    end
}

#[test]
fn a_character_range_reads_one_whole_character_ascii_or_not() {
    // ASCII, inside and outside the range, and at both of its ends.
    assert_eq!(matched("b", |s| s.match_range('a'..'c')), Some(1));
    assert_eq!(matched("a", |s| s.match_range('a'..'a')), Some(1));
    assert_eq!(matched("c", |s| s.match_range('a'..'b')), None);
    assert_eq!(matched("A", |s| s.match_range('a'..'y')), None);
    // An ASCII character in a range that reaches beyond ASCII.
    assert_eq!(matched("z", |s| s.match_range('a'..'\u{10FFFF}')), Some(1));
    // Two-, three- and four-byte characters are read whole, in and out of the range.
    assert_eq!(matched("é", |s| s.match_range('a'..'\u{10FFFF}')), Some(2));
    assert_eq!(matched("嗨x", |s| s.match_range('a'..'\u{10FFFF}')), Some(3));
    assert_eq!(matched("🦀", |s| s.match_range('\u{1F000}'..'\u{1FFFF}')), Some(4));
    assert_eq!(matched("é", |s| s.match_range('a'..'y')), None);
    // After a multi-byte character, the next one is read from the right byte.
    assert_eq!(matched("éb", |s| s.match_range('é'..'é').and_then(|s| s.match_range('b'..'b'))), Some(3));
    // At the end of the input, nothing matches.
    assert_eq!(matched("", |s| s.match_range('\0'..'\u{10FFFF}')), None);
    assert_eq!(matched("a", |s| s.match_range('a'..'a').and_then(|s| s.match_range('\0'..'z'))), None);
}

#[test]
fn a_character_test_sees_one_whole_character_ascii_or_not() {
    let seen = std::cell::RefCell::new(Vec::new());
    let record = |c: char| {
        seen.borrow_mut().push(c);
        true
    };
    let end = matched("aé嗨🦀_", |s| {
        s.match_char_by(record)
            .and_then(|s| s.match_char_by(record))
            .and_then(|s| s.match_char_by(record))
            .and_then(|s| s.match_char_by(record))
            .and_then(|s| s.match_char_by(record))
    });
    assert_eq!(end, Some(11));
    assert_eq!(*seen.borrow(), vec!['a', 'é', '嗨', '🦀', '_']);
    // A refused character is not consumed, and the end of the input matches nothing.
    assert_eq!(
        matched("ab", |s| s.match_char_by(|c| c == 'a').and_then(|s| s.match_char_by(|c| c == 'a'))),
        None
    );
    assert_eq!(matched("a", |s| s.match_char_by(|c| c == 'a').and_then(|s| s.match_char_by(|_| true))), None);
    assert_eq!(matched("é", |s| s.match_char_by(|c| c.is_ascii())), None);
    assert_eq!(matched("é", |s| s.match_char_by(char::is_alphabetic)), Some(2));
}
