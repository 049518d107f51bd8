//! Which statement an ERROR belongs to. pgaudit logs SELECT/DML when the
//! executor finishes and utility statements after they succeed, so an ERROR
//! usually belongs to a statement with no AUDIT line at all; only statements
//! logged before they run (DO blocks, function calls) fail after their record.

use onetrail_event::{Event, parse_complete};
use onetrail_pgaudit::{PgOptions, format_by_name};

fn parse(log: &str) -> Vec<Event> {
    let opts = PgOptions {
        log_line_prefix: "%m [%p] %q%u@%d ".into(),
        forward_other: true,
    };
    let mut f = format_by_name("pgaudit-stderr", &opts).unwrap();
    parse_complete(&mut *f, log.as_bytes(), "t", None, 0)
}

const P: &str = "2026-11-26 07:00:00.000 UTC [77] app@db ";

#[test]
fn executor_error_of_an_unlogged_statement_does_not_fail_the_previous_one() {
    let log = format!(
        "{P}LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<none>\n\
         {P}ERROR:  division by zero\n\
         {P}STATEMENT:  SELECT 1/0\n"
    );
    let ev = parse(&log);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert_eq!(ev[0].statement.as_deref(), Some("SELECT 1"));
    assert_eq!(ev[0].outcome, onetrail_event::Outcome::Success);
    assert_eq!(ev[1].statement.as_deref(), Some("SELECT 1/0"));
    assert_eq!(ev[1].outcome, onetrail_event::Outcome::Failure);
    assert_eq!(ev[1].action, "SELECT");
}

#[test]
fn failing_do_block_fails_its_own_records() {
    let log = format!(
        "{P}LOG:  AUDIT: SESSION,2,1,FUNCTION,DO,,,\"DO $$ BEGIN INSERT INTO t VALUES (1); PERFORM 1/0; END $$;\",<none>\n\
         {P}LOG:  AUDIT: SESSION,2,2,WRITE,INSERT,TABLE,public.t,INSERT INTO t VALUES (1),<none>\n\
         {P}ERROR:  division by zero\n\
         {P}CONTEXT:  PL/pgSQL function inline_code_block line 1 at PERFORM\n\
         {P}STATEMENT:  DO $$ BEGIN INSERT INTO t VALUES (1); PERFORM 1/0; END $$;\n"
    );
    let ev = parse(&log);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    for e in &ev {
        assert_eq!(e.outcome, onetrail_event::Outcome::Failure, "{e:#?}");
        assert_eq!(
            e.error.as_ref().unwrap().message.as_deref(),
            Some("division by zero")
        );
    }
}

#[test]
fn error_without_statement_line_only_fails_function_records() {
    let log = format!(
        "{P}LOG:  AUDIT: SESSION,3,1,DDL,CREATE TABLE,TABLE,public.x,CREATE TABLE x (i int),<none>\n\
         {P}ERROR:  duplicate key value violates unique constraint \"x_pkey\"\n"
    );
    let ev = parse(&log);
    assert_eq!(ev.len(), 2, "{ev:#?}");
    assert_eq!(ev[0].outcome, onetrail_event::Outcome::Success);
    assert_eq!(ev[1].outcome, onetrail_event::Outcome::Failure);
}
