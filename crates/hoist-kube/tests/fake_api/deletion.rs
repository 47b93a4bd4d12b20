//! Deletion as the API server and garbage collector do it: propagation policies, finalizers,
//! owner references, and pods that stop after their grace period.

use super::wire::{failure, json_response, not_found};
use super::{Key, POD_GRACE, Res, State, now, to_value};
use http::Response;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::client::Body;
use serde_json::{Value, json};
use std::time::Instant;

impl State {
    pub(super) fn delete(&mut self, res: Res, ns: &str, name: &str, body: &[u8]) -> Response<Body> {
        let opts: Value = match body {
            [] => json!({}),
            b => match serde_json::from_slice(b) {
                Ok(v) => v,
                Err(e) => return failure(400, "BadRequest", &format!("bad DeleteOptions: {e}")),
            },
        };
        let key = (res, ns.to_string(), name.to_string());
        let Some(obj) = self.objects.get(&key).cloned() else {
            return not_found(res, name);
        };
        let uid = obj["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(want) = opts["preconditions"]["uid"].as_str()
            && want != uid
        {
            return failure(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {} \"{name}\": Precondition failed: UID in precondition: {want}, UID in object meta: {uid}",
                    res.qualified()
                ),
            );
        }
        // batch/v1 Jobs orphan their pods unless told otherwise (kubectl says Background).
        let default = if res == Res::Jobs {
            "Orphan"
        } else {
            "Background"
        };
        let policy = match opts["propagationPolicy"].as_str() {
            Some(p) => p.to_string(),
            None if opts["orphanDependents"] == json!(false) => "Background".into(),
            None => default.into(),
        };
        let details = json!({"name": name, "group": res.group(), "kind": res.plural(), "uid": uid});
        if res == Res::Pods {
            return match self.delete_pod(&key) {
                true => json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Success", "details": details}),
                ),
                false => json_response(200, &self.objects[&key]),
            };
        }
        match policy.as_str() {
            "Background" => {
                self.objects.remove(&key);
                self.delete_dependents(ns, &uid);
                json_response(
                    200,
                    &json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Success", "details": details}),
                )
            }
            "Foreground" | "Orphan" => {
                // Held by a finalizer until the collector has done its part.
                let finalizer = if policy == "Foreground" {
                    "foregroundDeletion"
                } else {
                    "orphan"
                };
                if policy == "Foreground" {
                    self.delete_dependents(ns, &uid);
                }
                let rv = self.next_rv();
                let o = self.objects.get_mut(&key).expect("present");
                // A second delete of an object on its way out keeps the first one's timestamp.
                if o["metadata"]["deletionTimestamp"].is_null() {
                    o["metadata"]["deletionTimestamp"] = to_value(&now());
                    o["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                    o["metadata"]["finalizers"] = json!([finalizer]);
                    o["metadata"]["resourceVersion"] = json!(rv);
                }
                json_response(200, o)
            }
            other => failure(
                400,
                "BadRequest",
                &format!(
                    "propagationPolicy {other:?} is not one of Orphan, Background, Foreground"
                ),
            ),
        }
    }

    /// Delete a pod as the kubelet does: one whose container still runs stops after a grace
    /// period (marked with a deletionTimestamp meanwhile, phase unchanged); others go at once.
    /// Whether it is gone.
    pub(super) fn delete_pod(&mut self, key: &Key) -> bool {
        let Some(pod) = self.objects.get_mut(key) else {
            return true;
        };
        if pod["status"]["phase"] == json!("Running") {
            if pod["metadata"]["deletionTimestamp"].is_null() {
                pod["metadata"]["deletionTimestamp"] = to_value(&Time(
                    jiff::Timestamp::now() + jiff::SignedDuration::from_secs(30),
                ));
                pod["metadata"]["deletionGracePeriodSeconds"] = json!(30);
                self.stopping
                    .insert(key.clone(), Instant::now() + POD_GRACE);
            }
            return false;
        }
        self.logs.remove(&(key.1.clone(), key.2.clone()));
        self.objects.remove(key);
        true
    }

    /// Delete everything in `ns` owned by `uid` (the garbage collector's part).
    pub(super) fn delete_dependents(&mut self, ns: &str, uid: &str) {
        let owned: Vec<Key> = self
            .objects
            .iter()
            .filter(|((_, n, _), o)| n == ns && owned_by(o, uid))
            .map(|(k, _)| k.clone())
            .collect();
        for k in owned {
            if k.0 == Res::Pods {
                self.delete_pod(&k);
            } else {
                self.objects.remove(&k);
            }
        }
    }

    /// Time passing: stop pods whose grace period is over, then finish the deletions held by
    /// finalizers (orphan the dependents, or wait until they are gone).
    pub(super) fn collect_garbage(&mut self) {
        let now = Instant::now();
        let stopped: Vec<Key> = self
            .stopping
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for k in stopped {
            self.stopping.remove(&k);
            self.logs.remove(&(k.1.clone(), k.2.clone()));
            self.objects.remove(&k);
        }
        let pending: Vec<(Key, String, bool)> = self
            .objects
            .iter()
            .filter(|((r, _, _), o)| {
                *r != Res::Pods && !o["metadata"]["deletionTimestamp"].is_null()
            })
            .map(|(k, o)| {
                let orphan = o["metadata"]["finalizers"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|x| x == "orphan"));
                (
                    k.clone(),
                    o["metadata"]["uid"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    orphan,
                )
            })
            .collect();
        for (key, uid, orphan) in pending {
            if orphan {
                for o in self.objects.values_mut().filter(|o| owned_by(o, &uid)) {
                    if let Some(refs) = o["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != json!(uid));
                    }
                }
            } else if self.objects.values().any(|o| owned_by(o, &uid)) {
                continue;
            }
            self.objects.remove(&key);
        }
    }
}

pub(super) fn owned_by(o: &Value, uid: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["uid"] == json!(uid)))
}
