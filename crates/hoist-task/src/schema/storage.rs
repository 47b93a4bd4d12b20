//! Dict-form `file_mounts` entries (SkyPilot's `Storage.from_yaml_config`): checked against the
//! storage schema, then the mode/type/config combinations its `Storage` constructor refuses.

use std::sync::LazyLock;

use super::jsonschema::{Schema, Ty, validate};
use super::pyvalue::Py;
use super::resources::size_schema;
use super::{FileMount, StorageMode, TaskError};

const RCLONE_SIZE: &str = "^[0-9]+(b|k|m|g|t|p|B|K|M|G|T|P)?$";
const RCLONE_DURATION: &str =
    r"^(?:(?:[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:ms|[smhdwMy]))+|([-+]?(?:\d+(?:\.\d+)?|\.\d+)))$";

static STORAGE_SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    Schema::of(Ty::Object)
        .required(&[])
        .no_additional()
        .props(vec![
            ("name", Schema::of(Ty::String)),
            (
                "source",
                Schema::new().any_of(vec![
                    Schema::of(Ty::String),
                    Schema::of(Ty::Array)
                        .min_items(1)
                        .items(Schema::of(Ty::String)),
                ]),
            ),
            (
                "store",
                Schema::of(Ty::String).case_insensitive_enum(&[
                    "S3",
                    "GCS",
                    "AZURE",
                    "R2",
                    "IBM",
                    "OCI",
                    "NEBIUS",
                    "COREWEAVE",
                    "VASTDATA",
                    "HF",
                    "VOLUME",
                ]),
            ),
            ("persistent", Schema::of(Ty::Boolean)),
            (
                "mode",
                Schema::of(Ty::String).case_insensitive_enum(&["MOUNT", "COPY", "MOUNT_CACHED"]),
            ),
            (
                "type",
                Schema::of(Ty::String).case_insensitive_enum(&[
                    "MODEL_CHECKPOINT_RO",
                    "MODEL_CHECKPOINT_RW",
                    "DATASET_RO",
                    "DATASET_RW",
                ]),
            ),
            (
                "config",
                Schema::of(Ty::Object).props(vec![
                    ("disk_size", size_schema()),
                    ("disk_tier", Schema::of(Ty::String)),
                    ("storage_type", Schema::of(Ty::String)),
                    ("attach_mode", Schema::of(Ty::String)),
                    (
                        "mount_cached",
                        Schema::of(Ty::Object).no_additional().props(vec![
                            ("transfers", Schema::of(Ty::Integer).minimum(1)),
                            ("buffer_size", Schema::of(Ty::String).pattern(RCLONE_SIZE)),
                            (
                                "vfs_cache_max_size",
                                Schema::of(Ty::String).pattern(RCLONE_SIZE),
                            ),
                            (
                                "vfs_cache_max_age",
                                Schema::of(Ty::String).pattern(RCLONE_DURATION),
                            ),
                            (
                                "vfs_read_ahead",
                                Schema::of(Ty::String).pattern(RCLONE_SIZE),
                            ),
                            (
                                "vfs_read_chunk_size",
                                Schema::of(Ty::String).pattern(RCLONE_SIZE),
                            ),
                            ("vfs_read_chunk_streams", Schema::of(Ty::Integer).minimum(0)),
                            (
                                "vfs_write_back",
                                Schema::of(Ty::String).pattern(RCLONE_DURATION),
                            ),
                            ("read_only", Schema::of(Ty::Boolean)),
                        ]),
                    ),
                    (
                        "mount",
                        Schema::of(Ty::Object).no_additional().props(vec![
                            ("read_only", Schema::of(Ty::Boolean)),
                            (
                                "hf_mount_args",
                                Schema::of(Ty::Array).items(Schema::of(Ty::String)),
                            ),
                        ]),
                    ),
                ]),
            ),
            ("_is_sky_managed", Schema::of(Ty::Boolean)),
            ("_bucket_sub_path", Schema::of(Ty::String)),
            ("_force_delete", Schema::of(Ty::Boolean)),
        ])
});

fn err(message: String) -> TaskError {
    TaskError {
        message,
        line: None,
        column: None,
    }
}

/// A storage dict → [`FileMount::Storage`]. A list `source` (several local paths uploaded to
/// one bucket) is kept as its JSON array text, since the interface holds one string.
pub(crate) fn from_yaml(src: &Py) -> Result<FileMount, TaskError> {
    validate(src, &STORAGE_SCHEMA, "Invalid storage YAML: ")?;
    let get = |k: &str| src.get(k).filter(|v| !matches!(v, Py::None));
    // A null-valued unknown key passes the schema and is then left over in SkyPilot.
    if let Some(entries) = src.as_dict()
        && let Some(keys) = super::pyvalue::leftover_keys(
            entries,
            &[
                "name",
                "source",
                "store",
                "mode",
                "type",
                "_force_delete",
                "_is_sky_managed",
                "_bucket_sub_path",
                "persistent",
                "config",
            ],
        )
    {
        return Err(err(format!("Invalid storage args: {keys}")));
    }
    let name = get("name").and_then(Py::as_str).map(str::to_string);
    let source = get("source").map(|s| match s {
        Py::Str(s) => s.clone(),
        other => other.to_json().to_string(),
    });
    let store = get("store").and_then(Py::as_str).map(str::to_uppercase);
    let mode = match get("mode")
        .and_then(Py::as_str)
        .map(str::to_uppercase)
        .as_deref()
    {
        Some("COPY") => StorageMode::Copy,
        Some("MOUNT_CACHED") => StorageMode::MountCached,
        _ => StorageMode::Mount,
    };
    let mode_name = match mode {
        StorageMode::Mount => "MOUNT",
        StorageMode::Copy => "COPY",
        StorageMode::MountCached => "MOUNT_CACHED",
    };
    if get("type").is_some() && mode != StorageMode::MountCached {
        return Err(err(format!(
            "type can only be specified when mode is MOUNT_CACHED. Got mode={mode_name}."
        )));
    }
    let config = get("config");
    if config
        .and_then(|c| c.get("mount_cached"))
        .is_some_and(|v| !matches!(v, Py::None))
        && mode != StorageMode::MountCached
    {
        return Err(err(format!(
            "config.mount_cached can only be specified when mode is MOUNT_CACHED. Got mode={mode_name}."
        )));
    }
    if config
        .and_then(|c| c.get("mount"))
        .is_some_and(|v| !matches!(v, Py::None))
        && mode != StorageMode::Mount
    {
        return Err(err(format!(
            "config.mount can only be specified when mode is MOUNT. Got mode={mode_name}."
        )));
    }
    Ok(FileMount::Storage {
        name,
        source,
        store,
        mode,
    })
}

/// A `store: volume` entry becomes a volume in SkyPilot (its `source` is copied into
/// `<dst>/data`); it skips the storage schema there, and here it is kept as a storage entry
/// whose `store` is `VOLUME` for the launcher to refuse or map.
pub(crate) fn volume_entry(src: &Py) -> FileMount {
    let get = |k: &str| src.get(k).filter(|v| !matches!(v, Py::None));
    FileMount::Storage {
        name: get("name").map(Py::py_str),
        source: get("source").map(|s| match s {
            Py::Str(s) => s.clone(),
            other => other.to_json().to_string(),
        }),
        store: Some("VOLUME".into()),
        mode: StorageMode::Mount,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<FileMount, TaskError> {
        let docs = super::super::yaml::load_all(yaml, "t").expect("yaml");
        from_yaml(&docs[0])
    }

    #[test]
    fn modes_and_fields() {
        let m = load("name: bucket\nsource: ./data\nstore: s3\nmode: copy\n").expect("ok");
        assert_eq!(
            m,
            FileMount::Storage {
                name: Some("bucket".into()),
                source: Some("./data".into()),
                store: Some("S3".into()),
                mode: StorageMode::Copy
            }
        );
        let m = load("source: s3://b\n").expect("ok");
        assert!(matches!(
            m,
            FileMount::Storage {
                mode: StorageMode::Mount,
                ..
            }
        ));
    }

    #[test]
    fn errors_are_worded_like_skypilot() {
        assert_eq!(
            load("source: s3://b\nmode: SYNC\n").map_err(|e| e.message),
            Err("Invalid storage YAML: 'SYNC' is not one of ['MOUNT', 'COPY', 'MOUNT_CACHED']. Check problematic field(s): $.mode".into())
        );
        assert_eq!(
            load("source: s3://b\nmoed: COPY\n").map_err(|e| e.message),
            Err("Invalid storage YAML: Instead of 'moed', did you mean 'mode'?".into())
        );
        assert_eq!(
            load("source: s3://b\ntype: DATASET_RO\n").map_err(|e| e.message),
            Err("type can only be specified when mode is MOUNT_CACHED. Got mode=MOUNT.".into())
        );
    }

    #[test]
    fn list_sources_are_kept_as_json() {
        let m = load("name: b\nsource: [a, b]\n").expect("ok");
        assert!(
            matches!(m, FileMount::Storage { source: Some(ref s), .. } if s == "[\"a\",\"b\"]")
        );
    }
}
