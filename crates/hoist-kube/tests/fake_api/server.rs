//! The API server's routes: reads, lists, creates (with admission: validation and defaults),
//! merge patches and pod logs.

use super::wire::{
    failure, failure_with, json_response, matches, merge, namespace_not_found, not_found,
    parse_selector, query, respond, strip_type,
};
use super::{Res, State, to_value};
use http::{Method, Response};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;

impl State {
    pub(super) fn handle(&mut self, parts: &http::request::Parts, body: &[u8]) -> Response<Body> {
        let q = query(&parts.uri);
        let segs: Vec<&str> = parts.uri.path().split('/').skip(1).collect();
        let (group, rest) = match segs.as_slice() {
            ["api", "v1", rest @ ..] => ("", rest),
            ["apis", "batch", "v1", rest @ ..] => ("batch", rest),
            _ => {
                return failure(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                );
            }
        };
        let m = &parts.method;
        if q.get("watch").is_some_and(|w| w == "true" || w == "1") {
            return failure(
                400,
                "BadRequest",
                "this fake API server does not serve watches",
            );
        }
        match (group, rest) {
            ("", ["namespaces", ns]) if m == Method::GET => match self.namespaces.get(*ns) {
                Some(n) => json_response(200, n),
                None => namespace_not_found(ns),
            },
            ("", ["nodes"]) if m == Method::GET && self.nodes_forbidden => failure_with(
                403,
                "Forbidden",
                "nodes is forbidden: User \"system:serviceaccount:default:hoist\" cannot list resource \"nodes\" in API group \"\" at the cluster scope",
                Some(json!({"kind": "nodes"})),
            ),
            ("", ["nodes"]) if m == Method::GET => json_response(
                200,
                &json!({"kind": "NodeList", "apiVersion": "v1",
                    "metadata": {"resourceVersion": self.rv.to_string()},
                    "items": self.nodes.iter().map(strip_type).collect::<Vec<_>>()}),
            ),
            (g, ["namespaces", ns, plural, rest @ ..]) => {
                let Some(res) = Res::parse(g, plural) else {
                    return failure(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    );
                };
                match (rest, m) {
                    ([], &Method::GET) => self.list(res, ns, &q),
                    ([], &Method::POST) if res != Res::Pods => self.create(res, ns, body),
                    ([name], &Method::GET) => {
                        match self.objects.get(&(res, ns.to_string(), name.to_string())) {
                            Some(o) => json_response(200, o),
                            None => not_found(res, name),
                        }
                    }
                    ([name], &Method::DELETE) => self.delete(res, ns, name, body),
                    ([name], &Method::PATCH) => {
                        let ct = parts
                            .headers
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        self.patch(res, ns, name, ct, body)
                    }
                    ([name, "log"], &Method::GET) if res == Res::Pods => self.log(ns, name, &q),
                    _ => failure(
                        405,
                        "MethodNotAllowed",
                        &format!(
                            "the server does not allow this method on the requested resource ({m} {})",
                            parts.uri.path()
                        ),
                    ),
                }
            }
            _ => failure(
                405,
                "MethodNotAllowed",
                &format!(
                    "the server does not allow this method on the requested resource ({m} {})",
                    parts.uri.path()
                ),
            ),
        }
    }

    pub(super) fn list(&self, res: Res, ns: &str, q: &BTreeMap<String, String>) -> Response<Body> {
        let reqs = match parse_selector(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
            Ok(r) => r,
            Err(e) => {
                return failure(
                    400,
                    "BadRequest",
                    &format!("unable to parse requirement: {e}"),
                );
            }
        };
        let items: Vec<Value> = self
            .objects
            .iter()
            .filter(|((r, n, _), o)| *r == res && n == ns && matches(&reqs, o))
            .map(|(_, o)| strip_type(o))
            .collect();
        let (api_version, kind) = res.list_kind();
        json_response(
            200,
            &json!({"kind": kind, "apiVersion": api_version,
                "metadata": {"resourceVersion": self.rv.to_string()}, "items": items}),
        )
    }

    pub(super) fn create(&mut self, res: Res, ns: &str, body: &[u8]) -> Response<Body> {
        if !self.namespaces.contains_key(ns) {
            return namespace_not_found(ns);
        }
        let mut obj: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return failure(
                    400,
                    "BadRequest",
                    &format!("the body of the request was in an unknown format: {e}"),
                );
            }
        };
        // Decode as the typed object first: a body k8s-openapi cannot read, the API would not
        // either.
        let typed = match res {
            Res::Jobs => serde_json::from_value::<Job>(obj.clone()).map(|_| ()),
            Res::Secrets => serde_json::from_value::<Secret>(obj.clone()).map(|_| ()),
            Res::Services => serde_json::from_value::<Service>(obj.clone()).map(|_| ()),
            Res::Pods => serde_json::from_value::<Pod>(obj.clone()).map(|_| ()),
        };
        if let Err(e) = typed {
            return failure(
                400,
                "BadRequest",
                &format!("the body of the request was in an unknown format: {e}"),
            );
        }
        let Some(name) = obj["metadata"]["name"].as_str().map(str::to_string) else {
            return failure(
                422,
                "Invalid",
                &format!(
                    "{} \"\" is invalid: metadata.name: Required value: name or generateName is required",
                    res.qualified()
                ),
            );
        };
        if obj["metadata"]["namespace"]
            .as_str()
            .is_some_and(|n| n != ns)
        {
            return failure(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the request",
            );
        }
        let key = (res, ns.to_string(), name.clone());
        if self.objects.contains_key(&key) {
            return failure_with(
                409,
                "AlreadyExists",
                &format!("{} \"{name}\" already exists", res.qualified()),
                Some(json!({"name": name, "group": res.group(), "kind": res.plural()})),
            );
        }
        let meta = self.new_meta(&name, Some(ns), None);
        let uid = meta.uid.clone().unwrap_or_default();
        merge(&mut obj["metadata"], &to_value(&meta));
        if res == Res::Jobs
            && let Err(why) = Self::admit_job(&mut obj, &name, &uid)
        {
            return failure(422, "Invalid", &why);
        }
        if res == Res::Secrets
            && let Err(why) = Self::admit_secret(&mut obj, &name)
        {
            return failure(422, "Invalid", &why);
        }
        self.objects.insert(key, obj.clone());
        if res == Res::Jobs {
            match obj["spec"]["suspend"] == json!(true) {
                true => self.hold_job(ns, &name),
                false => self.run_job(ns, &name),
            }
        }
        if let Some(i) = self.lost_answers.iter().position(|r| *r == res) {
            self.lost_answers.remove(i);
            return failure(
                504,
                "Timeout",
                "Timeout: request did not complete within requested timeout - context deadline exceeded",
            );
        }
        let key = (res, ns.to_string(), name);
        json_response(201, &self.objects[&key])
    }

    /// A Secret as the API server stores it: `stringData` folded into `data` (it wins on a
    /// shared key, and is never stored), a docker config Secret's JSON checked. `Err` is the
    /// 422 message.
    pub(super) fn admit_secret(obj: &mut Value, name: &str) -> Result<(), String> {
        if let Some(Value::Object(string_data)) =
            obj.as_object_mut().and_then(|o| o.remove("stringData"))
        {
            for (k, v) in string_data {
                let text = v.as_str().unwrap_or_default();
                obj["data"][k] = json!(hoist_core::registry::base64_encode(text.as_bytes()));
            }
        }
        if obj["type"] == json!("kubernetes.io/dockerconfigjson") {
            let invalid =
                |why: &str| format!("Secret \"{name}\" is invalid: data[.dockerconfigjson]: {why}");
            let secret: Secret =
                serde_json::from_value(obj.clone()).map_err(|e| invalid(&e.to_string()))?;
            let Some(config) = secret
                .data
                .as_ref()
                .and_then(|d| d.get(".dockerconfigjson"))
            else {
                return Err(invalid("Required value"));
            };
            if let Err(e) = serde_json::from_slice::<Value>(&config.0) {
                return Err(invalid(&format!(
                    "Invalid value: \"<secret contents redacted>\": {e}"
                )));
            }
        }
        Ok(())
    }

    /// Validation and defaulting of a Job, as the API server does on create; `Err` is the
    /// 422 message.
    pub(super) fn admit_job(obj: &mut Value, name: &str, uid: &str) -> Result<(), String> {
        let invalid =
            |field: &str, why: &str| format!("Job.batch \"{name}\" is invalid: {field}: {why}");
        let containers = obj["spec"]["template"]["spec"]["containers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if containers.is_empty() {
            return Err(invalid("spec.template.spec.containers", "Required value"));
        }
        for (i, c) in containers.iter().enumerate() {
            if c["image"].as_str().is_none_or(str::is_empty) {
                return Err(invalid(
                    &format!("spec.template.spec.containers[{i}].image"),
                    "Required value",
                ));
            }
        }
        match obj["spec"]["template"]["spec"]["restartPolicy"].as_str() {
            Some("Never" | "OnFailure") => {}
            other => {
                return Err(invalid(
                    "spec.template.spec.restartPolicy",
                    &format!(
                        "Required value: valid values: \"OnFailure\", \"Never\" (got {other:?})"
                    ),
                ));
            }
        }
        let server_labels = json!({"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
            "batch.kubernetes.io/job-name": name, "job-name": name});
        merge(
            &mut obj["spec"]["template"]["metadata"]["labels"],
            &server_labels,
        );
        let selector = LabelSelector {
            match_labels: Some(BTreeMap::from([(
                "batch.kubernetes.io/controller-uid".to_string(),
                uid.to_string(),
            )])),
            ..Default::default()
        };
        let spec = &mut obj["spec"];
        spec["selector"] = to_value(&selector);
        for (k, v) in [
            ("completions", json!(1)),
            ("parallelism", json!(1)),
            ("backoffLimit", json!(6)),
            ("completionMode", json!("NonIndexed")),
            ("suspend", json!(false)),
        ] {
            if spec[k].is_null() {
                spec[k] = v;
            }
        }
        obj["metadata"]["generation"] = json!(1);
        obj["status"] = json!({});
        Ok(())
    }

    pub(super) fn patch(
        &mut self,
        res: Res,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
    ) -> Response<Body> {
        if !content_type.starts_with("application/merge-patch+json") {
            return failure(
                415,
                "UnsupportedMediaType",
                &format!(
                    "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json (this fake serves merge patches only; got {content_type:?})"
                ),
            );
        }
        let patch: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return failure(400, "BadRequest", &format!("error decoding patch: {e}")),
        };
        let rv = self.next_rv();
        let key = (res, ns.to_string(), name.to_string());
        let Some(obj) = self.objects.get_mut(&key) else {
            return not_found(res, name);
        };
        let (uid, created) = (
            obj["metadata"]["uid"].clone(),
            obj["metadata"]["creationTimestamp"].clone(),
        );
        let was_held = res == Res::Jobs && obj["spec"]["suspend"] == json!(true);
        merge(obj, &patch);
        // Identity fields are the server's.
        obj["metadata"]["uid"] = uid;
        obj["metadata"]["creationTimestamp"] = created;
        obj["metadata"]["name"] = json!(name);
        obj["metadata"]["namespace"] = json!(ns);
        obj["metadata"]["resourceVersion"] = json!(rv);
        if was_held && obj["spec"]["suspend"] != json!(true) {
            self.resume_job(ns, name);
        }
        json_response(200, &self.objects[&key])
    }

    pub(super) fn log(&self, ns: &str, name: &str, q: &BTreeMap<String, String>) -> Response<Body> {
        let Some(pod) = self
            .objects
            .get(&(Res::Pods, ns.to_string(), name.to_string()))
        else {
            return not_found(Res::Pods, name);
        };
        let containers: Vec<&str> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str())
            .collect();
        let container = match (q.get("container"), containers.as_slice()) {
            (Some(c), cs) if cs.contains(&c.as_str()) => c.clone(),
            (Some(c), _) => {
                return failure(
                    400,
                    "BadRequest",
                    &format!("container {c} is not valid for pod {name}"),
                );
            }
            (None, [one]) => one.to_string(),
            (None, _) => {
                return failure(
                    400,
                    "BadRequest",
                    &format!(
                        "a container name must be specified for pod {name}, choose one of: {containers:?}"
                    ),
                );
            }
        };
        if pod["status"]["phase"] == json!("Pending") {
            return failure(
                400,
                "BadRequest",
                &format!(
                    "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
                ),
            );
        }
        let text = self
            .logs
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
            .unwrap_or_default();
        let text = match q.get("tailLines").map(|t| t.parse::<usize>()) {
            None => text,
            Some(Ok(n)) => {
                let lines: Vec<&str> = text.lines().collect();
                lines[lines.len().saturating_sub(n)..]
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect()
            }
            Some(Err(e)) => return failure(400, "BadRequest", &format!("tailLines: {e}")),
        };
        respond(200, "text/plain", text.into_bytes())
    }
}
