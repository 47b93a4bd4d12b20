use super::*;

fn s(x: &str) -> Py {
    Py::Str(x.into())
}

#[test]
fn type_messages_quote_python_reprs() {
    let schema = Schema::of(Ty::Object).props(vec![("setup", Schema::of(Ty::String))]);
    let v = Py::Dict(vec![(s("setup"), Py::List(vec![s("a"), s("b")]))]);
    let e = validate(&v, &schema, "Invalid task YAML: ").expect_err("list");
    assert_eq!(
        e.message,
        "Invalid task YAML: ['a', 'b'] is not of type 'string'. Check problematic field(s): $.setup"
    );
}

#[test]
fn any_of_ties_report_the_any_of() {
    let schema = Schema::of(Ty::Object).props(vec![(
        "cpus",
        Schema::new().any_of(vec![Schema::of(Ty::String), Schema::of(Ty::Number)]),
    )]);
    let v = Py::Dict(vec![(s("cpus"), Py::List(vec![]))]);
    let e = validate(&v, &schema, "").expect_err("list");
    assert_eq!(
        e.message,
        "[] is not valid under any of the given schemas. Check problematic field(s): $.cpus"
    );
}

#[test]
fn any_of_descends_to_the_deepest_error() {
    let schema = Schema::of(Ty::Object).props(vec![(
        "accelerators",
        Schema::new().any_of(vec![
            Schema::of(Ty::String),
            Schema::of(Ty::Object),
            Schema::of(Ty::Array).items(Schema::of(Ty::String)),
        ]),
    )]);
    let v = Py::Dict(vec![(
        s("accelerators"),
        Py::List(vec![Py::Dict(vec![(s("T4"), Py::Int("1".into()))])]),
    )]);
    let e = validate(&v, &schema, "Invalid resources YAML: ").expect_err("bad");
    assert_eq!(
        e.message,
        "Invalid resources YAML: {'T4': 1} is not of type 'string'. Check problematic field(s): $.accelerators[0]"
    );
}

#[test]
fn unknown_fields_each_get_a_sentence() {
    let schema = Schema::of(Ty::Object).no_additional().props(vec![
        ("run", Schema::of(Ty::String)),
        ("setup", Schema::of(Ty::String)),
    ]);
    let v = Py::Dict(vec![
        (s("runn"), s("x")),
        (s("setup"), s("y")),
        (s("foo"), s("z")),
    ]);
    let e = validate(&v, &schema, "Invalid task YAML: ").expect_err("unknown");
    assert_eq!(
        e.message,
        "Invalid task YAML: Instead of 'runn', did you mean 'run'? Found unsupported field 'foo'."
    );
}

#[test]
fn json_path_brackets_odd_keys() {
    assert_eq!(
        json_path(&[PathElem::Key("labels".into()), PathElem::Key("a-b".into())]),
        "$.labels['a-b']"
    );
    assert_eq!(
        json_path(&[PathElem::Key("x".into()), PathElem::Index(2)]),
        "$.x[2]"
    );
}
