//! The manifests as they may be shown (`--dry-run`, snapshots): secret values masked, each
//! object complete for `kubectl apply`, and the YAML stream that carries them.

use super::Manifests;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// What a secret value is replaced with wherever manifests are shown.
const MASK: &str = "<secret>";

/// The Secret with every value replaced by [`MASK`] (a pull Secret: its docker config with
/// each password replaced by the name of the variable it came from): the one place masking
/// happens, so `redacted` and the dry-run stream cannot drift apart and leak a value through
/// either.
fn masked(secret: Option<&Secret>) -> Option<Secret> {
    let secret = secret?;
    if let Some(pull) = crate::pull::masked(secret) {
        return Some(pull);
    }
    let mut s = secret.clone();
    for v in s.data.iter_mut().flat_map(|d| d.values_mut()) {
        *v = k8s_openapi::ByteString(MASK.as_bytes().to_vec());
    }
    for v in s.string_data.iter_mut().flat_map(|d| d.values_mut()) {
        *v = MASK.into();
    }
    Some(s)
}

/// The manifests as they may be shown: secret values replaced.
pub fn redacted(m: &Manifests) -> serde_json::Value {
    let secret = masked(m.secret.as_ref());
    let pull_secret = masked(m.pull_secret.as_ref());
    serde_json::json!({"secret": secret, "pull_secret": pull_secret, "service": m.service, "job": m.job})
}

/// The objects `--dry-run` shows, in the order they must be applied (the Job's pods refer to
/// the Secrets and the Service by name), each a complete object `kubectl apply` takes as is.
/// Secret values are masked as in [`redacted`]: a dry run is printed, logged and pasted, so the
/// real value must never reach it.
pub fn dry_run_objects(m: &Manifests) -> Vec<serde_json::Value> {
    let mut objects = Vec::with_capacity(4);
    for s in [&m.secret, &m.pull_secret] {
        if let Some(s) = masked(s.as_ref()) {
            objects.push(applyable(&s));
        }
    }
    if let Some(s) = &m.service {
        objects.push(applyable(s));
    }
    objects.push(applyable(&m.job));
    objects
}

/// One object as `kubectl apply` wants it.
///
/// apiVersion and kind are set from the type even though k8s-openapi writes them for top-level
/// resources: without them apply refuses the document, so this does not rest on a serializer
/// detail. Owner references are dropped because the only owner hoist ever sets is the Job,
/// patched in after create once its UID exists; on a dry run there is no UID to point at.
fn applyable<K>(k: &K) -> serde_json::Value
where
    K: k8s_openapi::Resource + k8s_openapi::Metadata<Ty = ObjectMeta> + serde::Serialize,
{
    let mut v = match serde_json::to_value(k) {
        Ok(v) => v,
        // k8s-openapi objects only have string-keyed maps, so this cannot happen; were it to,
        // a stub that names the object and the reason beats a panic or a silently missing
        // document in what the user is about to apply.
        Err(e) => serde_json::json!({
            "metadata": {
                "name": k.metadata().name,
                "namespace": k.metadata().namespace,
                "annotations": {"hoist.dev/dry-run-error": e.to_string()},
            },
        }),
    };
    drop_nulls(&mut v);
    if let Some(o) = v.as_object_mut() {
        o.insert("apiVersion".into(), K::API_VERSION.into());
        o.insert("kind".into(), K::KIND.into());
        if o.get("status")
            .is_some_and(|s| s.as_object().is_some_and(serde_json::Map::is_empty))
        {
            o.remove("status");
        }
        if let Some(meta) = o.get_mut("metadata").and_then(|m| m.as_object_mut()) {
            meta.remove("ownerReferences");
        }
    }
    v
}

/// Removes null members at every depth. A null means "unset" to the API server, so in a
/// manifest meant for review or a repository it only reads as a value someone chose. Empty
/// maps stay: `emptyDir: {}` means something.
fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// `objects` as one multi-document YAML stream, the form `kubectl apply -f -` reads and people
/// paste into files: each document a mapping, documents separated by `---` lines.
///
/// serde-saphyr quotes every string a YAML 1.1 reader (Go's, in kubectl) would take for
/// something else, so env values like `1`, `true`, `yes` or `0x10` stay strings. Multi-line
/// strings go out double-quoted rather than as block scalars: with one physical line per
/// value, a `---` line or trailing spaces inside a script cannot be taken for a document
/// separator or trimmed by a tool that splits the stream by lines.
pub fn to_yaml_stream(objects: &[serde_json::Value]) -> String {
    let opts = || {
        let mut o = serde_saphyr::SerializerOptions::default();
        o.prefer_block_scalars = false;
        o
    };
    let mut out = String::new();
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        // JSON is YAML too, so if the YAML writer ever refuses a value the document goes out
        // as JSON: still one valid document, never a missing one.
        let doc = serde_saphyr::to_string_with_options(o, opts())
            .or_else(|_| serde_json::to_string_pretty(o))
            .unwrap_or_else(|_| "{}".into());
        out.push_str(&doc);
        if !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
