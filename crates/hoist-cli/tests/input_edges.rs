//! Values that used to slip through the parsers (issue 16, item 5): each is refused with exit
//! 2, names the value, and stores nothing.

mod harness;
use harness::*;

#[test]
fn odd_values_are_refused_before_anything_is_stored() {
    let e = Env::new();
    let cases: &[(&[&str], &str)] = &[
        (&["--memory", "1e30g"], "more memory than any machine"),
        (&["--memory", "-1g"], "positive"),
        (&["--input", "/d=s3//bad"], "s3//bad"),
        (&["--input", "/d=s3:/bad/key"], "lacks the \"://\""),
        (&["--arg", "=1"], "--arg"),
        (&["--arg", "--=1"], "not an argument name"),
        (&["--gpus", "0,,1"], "empty slot"),
    ];
    for (flags, said) in cases {
        let mut args = vec!["run", "-d"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "true"]);
        let o = e.run(&args);
        assert_eq!(o.code(), 2, "{flags:?}: {}", o.stderr());
        assert!(o.stderr().contains(said), "{flags:?}: {}", o.stderr());
    }
    assert!(e.ls().is_empty(), "nothing stored");
    // What stays accepted.
    for flags in [&["--memory", "512m"][..], &["--arg", "--lr=-0.1"][..]] {
        let mut args = vec!["run", "-d", "--dry-run"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["--", "true"]);
        let o = e.run(&args);
        assert_eq!(o.code(), 0, "{flags:?}: {}", o.stderr());
    }
}
