#!/usr/bin/env python3
"""A stand-in for one DGX Cloud Lepton workspace's REST API, on loopback.

It answers in the JSON shapes the official `leptonai` 0.47.1 client parses (checked by
honesty.py in this directory) and keeps its state in a directory, so a test can steer it
(setup.json, the /__admin routes) and read back what was sent (requests.log).

    python3 server.py --state DIR [--port 0] [--verbose]

prints exactly one line, `listening on PORT`, then serves until killed. Standard library only.
See README.md for the setup keys, the admin routes and the request log.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import random
import re
import string
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

OWNER = "u@example.com"
API_PREFIX = "/api/v2/workspaces/"

# ---------------------------------------------------------------------------------------------
# Defaults of setup.json


def _shape(shape_id, gpus, cpu, memory_mb):
    spec = {
        "name": shape_id,
        "cpu": cpu,
        "memory_in_mb": memory_mb,
        "listable_in": ["job", "pod", "deployment"],
        "node_group_id": "ng-abc123",
    }
    if gpus:
        spec["accelerator_type"] = "NVIDIA-H100-SXM"
        spec["accelerator_num"] = gpus
        spec["accelerator_memory_in_mb"] = 81920
    return {"metadata": {"id": shape_id}, "spec": spec}


DEFAULTS = {
    "workspace": "ws1",
    "token": "lepton-test-token",
    "forbidden_tokens": [],
    "suffix": True,
    "shapes": [
        _shape("cpu.small", 0, 4, 16384),
        _shape("gpu.1xh100-sxm", 1, 16, 196608),
        _shape("gpu.2xh100-sxm", 2, 32, 393216),
        _shape("gpu.8xh100-sxm", 8, 128, 1572864),
    ],
    "node_groups": [
        {
            "metadata": {"id": "ng-abc123", "name": "my-h100s"},
            "spec": {
                "volumes": [
                    {"from": "nfs", "name": "lepton-shared-fs", "size_in_gb": 1000, "from_path": "/"}
                ]
            },
            "status": {"ready_nodes": 2, "quota_enabled": True},
        }
    ],
    "script": [["Starting", 1], ["Running", 2], ["Completed", 0]],
    "log_page_cap": 10000,
    "throttle_logs": 0,
    # The client's ResourceQuota model requires cpu, memory and accelerator_num on both sides
    # (leptonai/api/v2/types/quota.py TotalResource); a {"gpu": N} quota does not parse.
    "quota": {
        "limit": {"cpu": 1024, "memory": 8388608, "accelerator_num": 16},
        "used": {"cpu": 32, "memory": 393216, "accelerator_num": 2},
    },
}

# States a job no longer runs in: a live log stream ends, a stop changes nothing, and the
# job has a completion time.
FINISHED = {"Completed", "Failed", "Stopped", "Archived", "Deleted"}
# States that keep the worker counts the job had (it is being torn down or put away).
KEEP_COUNTS = {"Archived", "Deleting", "Deleted"}
QUERY_MODES = {"alive_only", "archive_only", "alive_and_archive"}

JOB_ID = re.compile(r"^[a-z][a-z0-9-]*$")
# Lepton keeps a pull secret as a Kubernetes secret named after it (its open-sourced API server
# prefixes the name), so the name must be a DNS subdomain.
PULL_SECRET_NAME = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
RESERVED_ENV = {
    "LEPTON_WORKSPACE_ID",
    "LEPTON_DEPLOYMENT_NAME",
    "LEPTON_JOB_NAME",
    "LEPTON_RESOURCE_ACCELERATOR_TYPE",
    "LEPTON_WORKSPACE_ORIGIN_URL",
}
RESERVED_MOUNTS = {
    "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/media", "/opt", "/proc", "/run",
    "/sbin", "/srv", "/sys", "/usr", "/usr/bin", "/usr/lib", "/usr/local", "/usr/sbin", "/var",
    "/sys/fs/cgroup", "/sys/kernel/security", "/proc/sys", "/proc/bus",
}
ALNUM = string.ascii_lowercase + string.digits


class ApiError(Exception):
    """An error answer: status and the {"code","message"} body Lepton uses."""

    def __init__(self, status, code, message, headers=None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def bad(message):
    return ApiError(400, "InvalidArgument", message)


def not_found(message):
    return ApiError(404, "NotFound", message)


def now_ms():
    return int(time.time() * 1000)


def rfc3339(ms):
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sha256(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_script(script, where):
    ok = isinstance(script, list) and script and all(
        isinstance(s, list)
        and len(s) == 2
        and isinstance(s[0], str)
        and isinstance(s[1], int)
        and not isinstance(s[1], bool)
        and s[1] >= 0
        for s in script
    )
    if not ok:
        raise bad(f"{where}: script must be a non-empty list of [state, observations >= 0]")
    return [list(s) for s in script]


# ---------------------------------------------------------------------------------------------
# The workspace's state


class Workspace:
    """Everything the server knows, kept in memory under one lock and written to state.json
    after every change."""

    def __init__(self, state_dir):
        self.dir = state_dir
        self.lock = threading.Lock()
        self.log_lock = threading.Lock()
        path = os.path.join(state_dir, "state.json")
        self.state = {
            "jobs": {},
            "secrets": {},
            "image_pull_secrets": {},
            "logs_requests": 0,
            "next_seq": 1,
        }
        if os.path.exists(path):
            with open(path) as f:
                self.state.update(json.load(f))

    # -- files ---------------------------------------------------------------------------

    def setup(self):
        path = os.path.join(self.dir, "setup.json")
        try:
            with open(path) as f:
                text = f.read()
        except FileNotFoundError:
            text = ""
        try:
            given = json.loads(text) if text.strip() else {}
        except ValueError as e:
            raise ApiError(500, "FakeMisconfigured", f"{path} is not JSON: {e}")
        if not isinstance(given, dict):
            raise ApiError(500, "FakeMisconfigured", f"{path} must hold a JSON object")
        setup = copy.deepcopy(DEFAULTS)
        setup.update(given)
        setup["script"] = check_script(setup["script"], path)
        return setup

    def save(self):
        path = os.path.join(self.dir, "state.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.state, f, separators=(",", ":"))
        os.replace(tmp, path)

    def log_request(self, entry):
        line = json.dumps(entry, sort_keys=True)
        with self.log_lock:
            with open(os.path.join(self.dir, "requests.log"), "a") as f:
                f.write(line + "\n")

    def requests(self):
        with self.log_lock:
            try:
                with open(os.path.join(self.dir, "requests.log")) as f:
                    return [json.loads(l) for l in f if l.strip()]
            except FileNotFoundError:
                return []

    # -- jobs ----------------------------------------------------------------------------

    def record(self, job_id):
        rec = self.state["jobs"].get(job_id)
        if rec is None:
            raise not_found(f"job {job_id} not found")
        return rec

    @staticmethod
    def replica_ids(rec):
        job_id = rec["job"]["metadata"]["id"]
        n = rec["job"]["spec"].get("completions") or 1
        out = []
        for i in range(n):
            digest = hashlib.sha256(f"{job_id}/{i}".encode()).digest()
            tail = "".join(ALNUM[b % len(ALNUM)] for b in digest[:5])
            out.append(f"{job_id}-{i}-{tail}")
        return out

    @staticmethod
    def set_state(rec, state):
        """Put the job in `state` with the worker counts that state implies."""
        job = rec["job"]
        status = job["status"]
        n = job["spec"].get("completions") or 1
        status["state"] = state
        if state not in KEEP_COUNTS:
            status.update(ready=0, active=0, failed=0, succeeded=0)
            if state == "Running":
                status.update(ready=n, active=n)
            elif state == "Completed":
                status["succeeded"] = n
            elif state == "Failed":
                status["failed"] = n
        if state in FINISHED:
            if status.get("completion_time") is None:
                # Never before the job's last log line, so a range ending at the completion
                # time holds every line.
                last = max((v[0] for v in rec["fake"]["logs"]), default=0)
                status["completion_time"] = max(int(time.time()), math.ceil(last / 1e9))
        else:
            status["completion_time"] = None

    def start_script(self, rec, script):
        rec["fake"].update(script=script, pos=0, seen=0)
        self.set_state(rec, script[0][0])

    def observe(self, rec):
        """One observation: the job as it is now, then the script moves on."""
        shown = copy.deepcopy(rec["job"])
        f = rec["fake"]
        f["seen"] += 1
        n = f["script"][f["pos"]][1]
        if n > 0 and f["seen"] >= n and f["pos"] + 1 < len(f["script"]):
            f["pos"] += 1
            f["seen"] = 0
            self.set_state(rec, f["script"][f["pos"]][0])
        return shown

    @staticmethod
    def visible(rec, mode):
        if mode is None or mode == "alive_and_archive":
            return True
        state = rec["job"]["status"]["state"]
        if mode == "alive_only":
            return state not in ("Archived", "Deleted")
        return state == "Archived"  # archive_only

    def create_job(self, body, setup):
        if not isinstance(body, dict):
            raise bad("the body must be a job object")
        meta = body.get("metadata")
        spec = body.get("spec")
        if not isinstance(meta, dict) or not isinstance(spec, dict):
            raise bad("metadata and spec are required")
        given = meta.get("id") if meta.get("id") is not None else meta.get("name")
        if not isinstance(given, str) or not given:
            raise bad("metadata.id is required")
        if len(given) > 36:
            raise bad(f"job name {given!r} is longer than 36 characters")
        if not JOB_ID.match(given):
            raise bad(
                f"job name {given!r} must start with a lowercase letter and contain only"
                " lowercase letters, digits and hyphens"
            )
        if given.endswith("-"):
            raise bad(f"job name {given!r} cannot end with a hyphen")
        if given.endswith("by-lepton"):
            raise bad(f"job name {given!r} cannot end with 'by-lepton'")
        shape = spec.get("resource_shape")
        shape_ids = [s.get("metadata", {}).get("id") for s in setup["shapes"]]
        if shape not in shape_ids:
            raise bad(f"resource shape {shape!r} not found; known shapes: {', '.join(map(str, shape_ids))}")
        container = spec.get("container")
        if not isinstance(container, dict) or not container.get("image"):
            raise bad("spec.container.image is required")
        for key in ("completions", "parallelism"):
            v = spec.get(key)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v <= 0):
                raise bad(f"spec.{key} must be a positive integer")
        for env in spec.get("envs") or []:
            name = env.get("name") if isinstance(env, dict) else None
            if not isinstance(name, str) or not name or name[0].isdigit() or not ENV_NAME.match(name):
                raise bad(f"invalid environment variable name {name!r}")
            if name in RESERVED_ENV:
                raise bad(f"environment variable name {name} is reserved by Lepton")
        for m in spec.get("mounts") or []:
            if not isinstance(m, dict) or not m.get("from") or not isinstance(m.get("mount_path"), str):
                raise bad("each mount needs from and mount_path")
            if os.path.normpath(m["mount_path"]) in RESERVED_MOUNTS:
                raise bad(f"mount path {m['mount_path']!r} is reserved by Lepton")
        groups = {g.get("metadata", {}).get("id") for g in setup["node_groups"]}
        for ng in (spec.get("affinity") or {}).get("allowed_dedicated_node_groups") or []:
            if ng not in groups:
                raise bad(f"dedicated node group {ng!r} not found")

        jobs = self.state["jobs"]
        if setup["suffix"]:
            while True:
                job_id = given + "-" + "".join(random.choice(ALNUM) for _ in range(4))
                if job_id not in jobs:
                    break
        else:
            job_id = given
            if job_id in jobs:
                raise ApiError(409, "AlreadyExists", f"job {job_id} already exists")

        created = now_ms()
        out_meta = {
            "id": job_id,
            "name": meta.get("name") or given,
            "created_at": created,
            "version": 1,
            "owner": OWNER,
            "visibility": meta.get("visibility") or "private",
        }
        if meta.get("labels"):
            out_meta["labels"] = meta["labels"]
        out_spec = copy.deepcopy(spec)
        for key, default in (
            ("completions", 1),
            ("parallelism", 1),
            ("envs", []),
            ("mounts", []),
            ("image_pull_secrets", []),
            ("ttl_seconds_after_finished", 600),
        ):
            if out_spec.get(key) is None:
                out_spec[key] = default
        status = {
            "job_name": job_id,
            "state": None,
            "ready": 0,
            "active": 0,
            "failed": 0,
            "succeeded": 0,
            "creation_time": created // 1000,
            "completion_time": None,
            "job_history": [],
        }
        rec = {
            "job": {"metadata": out_meta, "spec": out_spec, "status": status},
            "fake": {
                "seq": self.state["next_seq"],
                "script": None,
                "pos": 0,
                "seen": 0,
                "logs": [],
                "log_count": 0,
                "events": None,
            },
        }
        self.state["next_seq"] += 1
        self.start_script(rec, setup["script"])
        jobs[job_id] = rec
        return copy.deepcopy(rec["job"])

    def events(self, rec):
        if rec["fake"]["events"] is not None:
            return rec["fake"]["events"]
        created = rec["job"]["metadata"]["created_at"]
        return [
            {
                "type": "Normal",
                "reason": "Scheduled",
                "regarding": {"kind": "Pod", "name": self.replica_ids(rec)[0]},
                "count": 1,
                "last_observed_time": rfc3339(created + 5000),
            }
        ]

    def replicas(self, rec):
        out = []
        for i, rid in enumerate(self.replica_ids(rec)):
            node = "node-" + (ALNUM[i] if i < 26 else str(i))
            out.append(
                {
                    "id": rid,
                    "metadata": {"id": rid, "name": rid},
                    "status": {"node": {"name": node, "id": node}},
                }
            )
        return out


# ---------------------------------------------------------------------------------------------
# HTTP


def first(query, key, default=None):
    values = query.get(key)
    return values[0] if values else default


def int_param(query, key, default=None, minimum=None):
    raw = first(query, key)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise bad(f"{key} must be an integer, got {raw!r}")
    if minimum is not None and v < minimum:
        raise bad(f"{key} must be at least {minimum}")
    return v


def query_mode(query):
    mode = first(query, "job_query_mode")
    if mode is not None and mode not in QUERY_MODES:
        raise bad(f"job_query_mode must be one of {', '.join(sorted(QUERY_MODES))}")
    return mode


def redact_for_log(method, rel, body):
    """The body as the request log keeps it: no secret values."""
    if method == "POST" and rel == "/usersecrets":
        if isinstance(body, list):
            return [
                {k: v for k, v in item.items() if k != "value"} if isinstance(item, dict) else "<redacted>"
                for item in body
            ]
        return None if body is None else "<redacted>"
    if method == "POST" and rel == "/imagepullsecrets" and isinstance(body, dict):
        body = copy.deepcopy(body)
        spec = body.get("spec")
        if isinstance(spec, dict) and "password" in spec:
            spec["password"] = "<redacted>"
    return body


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; without TCP_NODELAY each answer waits for
    # the client's delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server_version = "fake-lepton"
    sys_version = ""

    # set on the class by main()
    ws = None
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("fake-lepton: " + (fmt % args) + "\n")

    # -- plumbing ------------------------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                data += self.rfile.read(size)
                self.rfile.readline()
            return data
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_json(self, status, obj, headers=None):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def send_error_json(self, e):
        self.send_json(e.status, {"code": e.code, "message": e.message}, e.headers)

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PATCH(self):
        self.handle_any("PATCH")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def handle_any(self, method):
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query, keep_blank_values=True)
        raw = self.read_body()
        body = None
        body_error = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                body_error = bad("the body is not valid JSON")
        try:
            if path.startswith("/__admin/"):
                if body_error:
                    raise body_error
                return self.admin(method, path[len("/__admin"):], body)
            setup = self.ws.setup()
            auth = self.auth_of(setup)
            rel = None
            if path.startswith(API_PREFIX):
                rest = path[len(API_PREFIX):]
                ws_id, _, tail = rest.partition("/")
                rel = "/" + tail
            self.ws.log_request(
                {
                    "method": method,
                    "path": path,
                    "query": query,
                    "origin": self.headers.get("Origin"),
                    "auth": "bad" if auth == "forbidden" else auth,
                    "body": redact_for_log(method, rel, body),
                }
            )
            if rel is None:
                raise not_found(f"no route for {method} {path}")
            if ws_id != setup["workspace"]:
                raise ApiError(404, "NotFound", "Workspace not found")
            if auth == "forbidden":
                raise ApiError(403, "Forbidden", "token is not valid for this workspace")
            if auth != "ok":
                raise ApiError(401, "Unauthorized", "invalid token")
            if body_error:
                raise body_error
            self.route(method, rel, query, body, setup)
        except ApiError as e:
            self.send_error_json(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # a bug in the fake: say so rather than hang the client
            sys.stderr.write(f"fake-lepton: internal error on {method} {self.path}: {e!r}\n")
            self.send_json(500, {"code": "Internal", "message": f"fake-lepton bug: {e!r}"})

    def auth_of(self, setup):
        header = self.headers.get("Authorization")
        if header is None:
            return "missing"
        token = header[len("Bearer "):] if header.startswith("Bearer ") else None
        if token is not None and token == setup["token"]:
            return "ok"
        if token is not None and token in (setup.get("forbidden_tokens") or []):
            return "forbidden"
        return "bad"

    # -- the API -------------------------------------------------------------------------

    def route(self, method, rel, query, body, setup):
        parts = [unquote(p) for p in rel.strip("/").split("/")] if rel.strip("/") else []

        if method == "GET" and parts == ["workspace"]:
            return self.send_json(200, self.workspace_info(setup))
        if method == "GET" and parts == ["tokens"]:
            tok = setup["token"]
            return self.send_json(
                200, [{"masked_value": tok[:2] + "..." + tok[-2:], "expires_at": now_ms() + 30 * 86400000}]
            )
        if parts[:1] == ["jobs"]:
            return self.jobs(method, parts[1:], query, body, setup)
        if method == "GET" and parts == ["logs"]:
            return self.logs(query, setup)
        if method == "GET" and parts == ["shapes"]:
            ng = first(query, "node_groups")
            purpose = first(query, "purpose")
            out = []
            for s in setup["shapes"]:
                spec = s.get("spec", {})
                if ng and spec.get("node_group_id") and spec["node_group_id"] != ng:
                    continue
                if purpose and spec.get("listable_in") is not None and purpose not in spec["listable_in"]:
                    continue
                out.append(s)
            return self.send_json(200, out)
        if method == "GET" and parts == ["dedicated-node-groups"]:
            return self.send_json(200, setup["node_groups"])
        if method == "GET" and len(parts) == 2 and parts[0] == "dedicated-node-groups":
            for g in setup["node_groups"]:
                if g.get("metadata", {}).get("id") == parts[1]:
                    return self.send_json(200, g)
            raise not_found(f"dedicated node group {parts[1]} not found")
        if parts[:1] == ["usersecrets"]:
            return self.secrets(method, parts[1:], body)
        if parts[:1] == ["imagepullsecrets"]:
            return self.pull_secrets(method, parts[1:], body)
        raise not_found(f"no route for {method} {rel}")

    def workspace_info(self, setup):
        with self.ws.lock:
            jobs = [r for r in self.ws.state["jobs"].values() if self.ws.visible(r, "alive_only")]
            n_secrets = len(self.ws.state["secrets"])
            n_pull = len(self.ws.state["image_pull_secrets"])
        supported = {}
        for s in setup["shapes"]:
            spec = s.get("spec", {})
            entry = {"description": spec.get("name"), "cpu": spec.get("cpu")}
            if spec.get("memory_in_mb") is not None:
                entry["memory"] = spec["memory_in_mb"]
            if spec.get("accelerator_type"):
                entry["accelerator_type"] = spec["accelerator_type"]
                entry["accelerator_num"] = spec.get("accelerator_num")
            supported[s.get("metadata", {}).get("id")] = entry
        return {
            "build_time": "2026-07-01T00:00:00Z",
            "git_commit": "fake-lepton",
            "workspace_name": setup["workspace"],
            "workspace_tier": "enterprise",
            "workspace_state": "normal",
            "supported_shapes": supported,
            "workspace_disk_usage_bytes": 0,
            "workloads": {
                "num_deployments": 0,
                "num_jobs": len(jobs),
                "num_pods": 0,
                "num_secrets": n_secrets,
                "num_image_pull_secrets": n_pull,
            },
            "resource_quota": setup["quota"],
        }

    def jobs(self, method, parts, query, body, setup):
        ws = self.ws
        if not parts and method == "POST":
            with ws.lock:
                job = ws.create_job(body, setup)
                ws.save()
            return self.send_json(200, job)
        if not parts and method == "GET":
            mode = query_mode(query) or "alive_only"
            page = int_param(query, "page", 1, minimum=1)
            size = int_param(query, "page_size", None, minimum=1)
            q = first(query, "q")
            states = set(query.get("status") or [])
            groups = set(query.get("node_groups") or [])
            created_by = set(query.get("created_by") or [])
            selector = first(query, "query")
            with ws.lock:
                recs = [r for r in ws.state["jobs"].values() if ws.visible(r, mode)]
                if q:
                    recs = [r for r in recs if q in (r["job"]["metadata"].get("name") or "") or q in r["job"]["metadata"]["id"]]
                if states:
                    recs = [r for r in recs if r["job"]["status"]["state"] in states]
                if groups:
                    recs = [
                        r for r in recs
                        if groups & set((r["job"]["spec"].get("affinity") or {}).get("allowed_dedicated_node_groups") or [])
                    ]
                if created_by:
                    recs = [r for r in recs if r["job"]["metadata"].get("owner") in created_by]
                if selector:
                    for term in selector.split(","):
                        k, _, v = term.partition("=")
                        recs = [r for r in recs if (r["job"]["metadata"].get("labels") or {}).get(k.strip()) == v.strip()]
                recs.sort(key=lambda r: -r["fake"]["seq"])
                if size is not None:
                    recs = recs[(page - 1) * size: page * size]
                elif page > 1:
                    recs = []
                shown = [ws.observe(r) for r in recs]
                if shown:
                    ws.save()
            return self.send_json(200, {"jobs": shown})
        if not parts:
            raise ApiError(405, "MethodNotAllowed", f"{method} /jobs is not supported")

        job_id = parts[0]
        sub = parts[1:]
        mode = query_mode(query)
        if not sub:
            with ws.lock:
                rec = ws.record(job_id)
                if not ws.visible(rec, mode):
                    raise not_found(f"job {job_id} not found")
                if method == "GET":
                    shown = ws.observe(rec)
                    ws.save()
                    return self.send_json(200, shown)
                if method == "PATCH":
                    self.patch_job(rec, body)
                    ws.save()
                    return self.send_json(200, {})
                if method == "DELETE":
                    del ws.state["jobs"][job_id]
                    ws.save()
                    return self.send_json(200, {})
            raise ApiError(405, "MethodNotAllowed", f"{method} /jobs/{{id}} is not supported")
        if method != "GET":
            raise ApiError(405, "MethodNotAllowed", f"{method} on a job's {sub[0]} is not supported")
        if sub == ["events"]:
            with ws.lock:
                rec = ws.record(job_id)
                return self.send_json(200, ws.events(rec))
        if sub == ["replicas"]:
            with ws.lock:
                rec = ws.record(job_id)
                if not ws.visible(rec, mode):
                    raise not_found(f"job {job_id} not found")
                return self.send_json(200, ws.replicas(rec))
        if len(sub) == 3 and sub[0] == "replicas" and sub[2] == "log":
            return self.stream_log(job_id, sub[1])
        raise not_found(f"no route for GET /jobs/{job_id}/{'/'.join(sub)}")

    def patch_job(self, rec, body):
        if not isinstance(body, dict) or not isinstance(body.get("spec"), dict):
            raise bad('the body must be {"spec": {...}}')
        state = rec["job"]["status"]["state"]
        if state in FINISHED and not (state == "Stopped" and body["spec"].get("stopped") is False):
            return  # nothing changes on a finished job
        changes = dict(body["spec"])
        stopped = changes.pop("stopped", None)
        rec["job"]["spec"].update(changes)
        if stopped is True and state not in ("Stopping", "Stopped"):
            rec["job"]["spec"]["stopped"] = True
            self.ws.start_script(rec, [["Stopping", 1], ["Stopped", 0]])
        elif stopped is False and state == "Stopped":
            rec["job"]["spec"]["stopped"] = False
            self.ws.start_script(rec, [["Running", 0]])

    def stream_log(self, job_id, rid):
        ws = self.ws
        with ws.lock:
            rec = ws.record(job_id)
            ids = ws.replica_ids(rec)
            if rid not in ids:
                raise not_found(f"replica {rid} of job {job_id} not found")
            index = ids.index(rid)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0  # how many of the job's log entries have been looked at
        while True:
            with ws.lock:
                rec = ws.state["jobs"].get(job_id)
                if rec is None:
                    lines, done = [], True
                else:
                    logs = rec["fake"]["logs"]
                    lines = [v[2] for v in logs[sent:] if v[1] == index]
                    sent = len(logs)
                    done = rec["job"]["status"]["state"] in FINISHED
            if lines:
                data = "".join(l + "\n" for l in lines).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
            if done:
                break
            time.sleep(0.1)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def logs(self, query, setup):
        ws = self.ws
        with ws.lock:
            n = ws.state["logs_requests"]
            ws.state["logs_requests"] = n + 1
            ws.save()
        if n < int(setup.get("throttle_logs") or 0):
            raise ApiError(429, "TooManyRequests", "rate limited", {"Retry-After": "1"})
        job_id = first(query, "job")
        if not job_id:
            if any(k in query for k in ("deployment", "endpoint", "job_history_name")):
                return self.send_json(200, empty_logs())
            raise bad("job is required")
        start = int_param(query, "start")
        end = int_param(query, "end")
        if (start is None) != (end is None):
            raise bad("start and end must be given together")
        limit = int_param(query, "limit", 5000, minimum=1)
        limit = min(limit, int(setup["log_page_cap"]))
        direction = first(query, "direction", "backward")
        if direction not in ("backward", "forward"):
            raise bad("direction must be backward or forward")
        q = first(query, "q", "")
        replica = first(query, "replica")
        query_mode(query)
        with ws.lock:
            rec = ws.state["jobs"].get(job_id)
            if rec is None:
                return self.send_json(200, empty_logs())
            ids = ws.replica_ids(rec)
            entries = list(rec["fake"]["logs"])
        if replica is not None:
            if replica not in ids:
                return self.send_json(200, empty_logs())
            entries = [e for e in entries if e[1] == ids.index(replica)]
        if start is not None:
            # [start, end): the official client's parser (leptonai/cli/log.py
            # _parse_log_entries) rejects an entry at end, and its pagers treat end as exclusive.
            entries = [e for e in entries if start <= e[0] < end]
        if q:
            entries = [e for e in entries if q in e[2]]
        entries.sort(key=lambda e: e[0], reverse=(direction == "backward"))
        entries = entries[:limit]
        streams = {}
        for ts, idx, line in entries:
            streams.setdefault(idx, []).append([str(ts), line])
        result = [
            {"stream": {"job": job_id, "replica": ids[idx]}, "values": values}
            for idx, values in sorted(streams.items())
        ]
        return self.send_json(200, {"status": "success", "data": {"resultType": "streams", "result": result}})

    def secrets(self, method, parts, body):
        ws = self.ws
        if method == "POST" and not parts:
            if not isinstance(body, list) or not all(
                isinstance(i, dict) and isinstance(i.get("name"), str) and i["name"] and isinstance(i.get("value"), str)
                for i in body
            ):
                raise bad('the body must be a list of {"name", "value"}')
            with ws.lock:
                for i in body:
                    ws.state["secrets"][i["name"]] = {
                        "visibility": i.get("visibility") or "private",
                        "owner": OWNER,
                        "sha256": sha256(i["value"]),
                    }
                ws.save()
            return self.send_json(200, {})
        if method == "GET" and not parts:
            with ws.lock:
                out = [
                    {"name": name, "visibility": s["visibility"], "owner": s["owner"]}
                    for name, s in sorted(ws.state["secrets"].items())
                ]
            return self.send_json(200, out)
        if method == "DELETE" and len(parts) == 1:
            with ws.lock:
                if ws.state["secrets"].pop(parts[0], None) is None:
                    raise not_found(f"secret {parts[0]} not found")
                ws.save()
            return self.send_json(200, {})
        raise ApiError(405, "MethodNotAllowed", f"{method} on usersecrets is not supported")

    def pull_secrets(self, method, parts, body):
        ws = self.ws
        if method == "POST" and not parts:
            meta = body.get("metadata") if isinstance(body, dict) else None
            spec = body.get("spec") if isinstance(body, dict) else None
            if not isinstance(meta, dict) or not isinstance(spec, dict):
                raise bad("metadata and spec are required")
            name = meta.get("name") or meta.get("id")
            if not isinstance(name, str) or not name:
                raise bad("metadata.name is required")
            if len(name) > 200 or not PULL_SECRET_NAME.match(name):
                raise bad(
                    f"image pull secret name {name!r} must be at most 200 characters of a-z, 0-9, '-' and '.', "
                    "starting and ending with a letter or digit"
                )
            for k in ("registry_server", "username", "password"):
                if not isinstance(spec.get(k), str) or not spec[k]:
                    raise bad(f"spec.{k} is required")
            if not isinstance(spec.get("email", ""), str):
                raise bad("spec.email must be a string")
            with ws.lock:
                if name in ws.state["image_pull_secrets"]:
                    raise ApiError(409, "AlreadyExists", f"image pull secret {name} already exists")
                ws.state["image_pull_secrets"][name] = {
                    "id": meta.get("id") or name,
                    "registry_server": spec["registry_server"],
                    "username": spec["username"],
                    "password_sha256": sha256(spec["password"]),
                }
                ws.save()
            return self.send_json(201, {})
        if method == "GET" and not parts:
            with ws.lock:
                out = [
                    {
                        "metadata": {"name": name, "id": s["id"]},
                        "spec": {"registry_server": s["registry_server"], "username": s["username"]},
                    }
                    for name, s in sorted(ws.state["image_pull_secrets"].items())
                ]
            return self.send_json(200, out)
        if method == "DELETE" and len(parts) == 1:
            with ws.lock:
                if ws.state["image_pull_secrets"].pop(parts[0], None) is None:
                    raise not_found(f"image pull secret {parts[0]} not found")
                ws.save()
            return self.send_json(200, {})
        raise ApiError(405, "MethodNotAllowed", f"{method} on imagepullsecrets is not supported")

    # -- admin ---------------------------------------------------------------------------

    def admin(self, method, path, body):
        ws = self.ws
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if method == "GET" and parts == ["requests"]:
            return self.send_json(200, ws.requests())
        if method == "GET" and parts == ["state"]:
            with ws.lock:
                return self.send_json(200, ws.state)
        if method == "POST" and len(parts) >= 2 and parts[0] == "jobs":
            if not isinstance(body, dict):
                raise bad("the body must be a JSON object")
            with ws.lock:
                rec = ws.record(parts[1])
                if parts[2:] == []:
                    self.admin_job(rec, body)
                elif parts[2:] == ["logs"]:
                    self.admin_logs(rec, body)
                elif parts[2:] == ["events"]:
                    events = body.get("events")
                    if not isinstance(events, list):
                        raise bad('the body must be {"events": [...]}')
                    rec["fake"]["events"] = events
                else:
                    raise not_found(f"no admin route {path}")
                ws.save()
            return self.send_json(200, {})
        raise not_found(f"no admin route {method} {path}")

    def admin_job(self, rec, body):
        if "script" in body and "state" in body:
            raise bad("give state or script, not both")
        counts = {k: body[k] for k in ("ready", "active", "failed", "succeeded") if k in body}
        for k, v in counts.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise bad(f"{k} must be a non-negative integer")
        if "script" in body:
            self.ws.start_script(rec, check_script(body["script"], "script"))
        elif "state" in body:
            if not isinstance(body["state"], str):
                raise bad("state must be a string")
            self.ws.start_script(rec, [[body["state"], 0]])
        rec["job"]["status"].update(counts)

    def admin_logs(self, rec, body):
        lines = body.get("lines")
        replica = body.get("replica", 0)
        n = rec["job"]["spec"].get("completions") or 1
        if not isinstance(lines, list) or not all(isinstance(l, str) for l in lines):
            raise bad('the body must be {"replica": N, "lines": ["..."]}')
        if not isinstance(replica, int) or isinstance(replica, bool) or not 0 <= replica < n:
            raise bad(f"replica must be a worker index from 0 to {n - 1}")
        f = rec["fake"]
        created = rec["job"]["metadata"]["created_at"]
        for line in lines:
            f["log_count"] += 1
            f["logs"].append([(created + f["log_count"]) * 1_000_000, replica, line])


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) resets connections when a test sends many requests at once.
    request_queue_size = 128


def empty_logs():
    return {"status": "success", "data": {"resultType": "streams", "result": []}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--state", required=True, help="state directory (setup.json, state.json, requests.log)")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free one)")
    p.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = p.parse_args()
    os.makedirs(args.state, exist_ok=True)
    Handler.ws = Workspace(args.state)
    Handler.verbose = args.verbose
    try:
        Handler.ws.setup()  # a broken setup.json fails here, not on the first request
    except ApiError as e:
        sys.exit(f"fake-lepton: {e.message}")
    server = Server(("127.0.0.1", args.port), Handler)
    sys.stdout.write(f"listening on {server.server_address[1]}\n")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
