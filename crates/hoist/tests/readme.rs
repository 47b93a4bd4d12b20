//! README's settings tables are generated from the platforms' descriptors: this test fails
//! when they drift, and `HOIST_BLESS=1 cargo test -p hoist --test readme` rewrites them.

#[test]
fn readme_settings_tables_match_the_descriptors() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(&path).expect("README.md");
    let mut fixed = text.clone();
    let mut stale = Vec::new();
    for info in hoist::platform_infos() {
        let begin = format!("<!-- settings:{} -->\n", info.name);
        let end = format!("<!-- /settings:{} -->", info.name);
        let (Some(a), Some(b)) = (fixed.find(&begin), fixed.find(&end)) else {
            stale.push(format!("{} (no {begin:?} … {end:?} block)", info.name));
            continue;
        };
        let want = hoist::views::settings_markdown(info);
        let start = a + begin.len();
        if fixed[start..b] != want {
            stale.push(info.name.to_string());
            fixed.replace_range(start..b, &want);
        }
    }
    if std::env::var("HOIST_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &fixed).expect("write README.md");
        return;
    }
    assert!(
        stale.is_empty(),
        "README.md settings tables are stale for: {}; run HOIST_BLESS=1 cargo test -p hoist --test readme",
        stale.join(", ")
    );
}
