#!/usr/bin/env python3
"""Honesty check: the official Lepton client (leptonai 0.47.1) against server.py.

Starts server.py on a temporary state directory and drives it with
`leptonai.api.v2.client.APIClient`, so the stand-in cannot drift from the shapes the real
client parses. Every answer goes through the client's own methods and pydantic models; each
raw JSON answer is also validated with `model_validate` and checked for keys the model does
not know (the client ignores unknown keys, so a misspelt field would otherwise pass), and
list answers must lose no item (the client drops unparsable list items with only a message
on stderr).

Run it with the testbed's venv (scripts/testbed.sh makes it):
    /var/lib/hoist-testbed/lepton-venv/bin/python honesty.py
Exit 0: everything matched. Exit 1: a mismatch, named on stderr. Exit 2: setup problem.
"""

import hashlib
import io
import traceback
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import types as pytypes
import typing
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "server.py")
TOKEN = "lepton-test-token"
WANT_VERSION = "0.47.1"

# The body leptonai 0.47.1 sends for `lep job create` with these options (the notes, §2.3).
NOTES_BODY = {
    "metadata": {"id": "hoist-demo", "visibility": "private"},
    "spec": {
        "resource_shape": "gpu.1xh100-sxm",
        "affinity": {"allowed_dedicated_node_groups": ["ng-abc123"]},
        "container": {
            "image": "nvcr.io/nvidia/pytorch:25.08-py3",
            "command": ["/bin/bash", "-c", "python train.py"],
        },
        "completions": 2,
        "parallelism": 2,
        "max_failure_retry": 0,
        "envs": [
            {"name": "FOO", "value": "bar"},
            {"name": "HF_TOKEN", "value_from": {"secret_name_ref": "HF_TOKEN"}},
        ],
        "mounts": [{"path": "/shared/me", "from": "node-nfs:lepton-shared-fs", "mount_path": "/mnt/shared"}],
        "image_pull_secrets": ["ngc-pull"],
        "ttl_seconds_after_finished": 259200,
        "intra_job_communication": True,
        "log": {"enable_collection": True},
    },
}


class Mismatch(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Mismatch(what)


def expect_eq(got, want, what):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


class StderrTee(io.TextIOBase):
    """Keeps what the client writes to stderr (it reports dropped list items there)."""

    def __init__(self, real):
        self.real = real
        self.text = []

    def write(self, s):
        self.text.append(s)
        return self.real.write(s)

    def flush(self):
        self.real.flush()


def main():
    # The client must not read or write the user's login records.
    cache = tempfile.mkdtemp(prefix="fake-lepton-cache-")
    os.environ["LEPTON_CACHE_DIR"] = cache
    for k in list(os.environ):
        if k.startswith("LEPTON_") and k != "LEPTON_CACHE_DIR":
            del os.environ[k]
    try:
        from importlib.metadata import version

        got = version("leptonai")
    except Exception as e:
        print(f"honesty: leptonai is not installed in {sys.executable} ({e}); run scripts/testbed.sh", file=sys.stderr)
        return 2
    if got != WANT_VERSION:
        print(f"honesty: leptonai {got} in {sys.executable}, want {WANT_VERSION}; run scripts/testbed.sh", file=sys.stderr)
        return 2

    state = tempfile.mkdtemp(prefix="fake-lepton-state-")
    with open(os.path.join(state, "setup.json"), "w") as f:
        json.dump({"throttle_logs": 1, "forbidden_tokens": ["other-env-token"]}, f)
    err = open(os.path.join(state, "server.stderr"), "w")
    server = subprocess.Popen(
        [sys.executable, SERVER, "--state", state, "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    tee = StderrTee(sys.stderr)
    try:
        line = server.stdout.readline()
        m = re.fullmatch(r"listening on (\d+)\n", line)
        if not m:
            server.wait(timeout=5)
            with open(err.name) as f:
                print(f"honesty: server.py said {line!r}, exit {server.returncode}: {f.read()}", file=sys.stderr)
            return 2
        sys.stderr = tee
        try:
            Check(int(m.group(1)), state).run()
        finally:
            sys.stderr = tee.real
        skipped = [t for t in tee.text if "[lepton-error]" in t]
        expect(not skipped, f"the client dropped list items: {''.join(skipped)}")
    except Exception as e:
        if isinstance(e, Mismatch):
            print(f"honesty: FAIL: {e}", file=sys.stderr)
        else:
            # The client itself refused an answer (a model, a log parser, an HTTP error).
            traceback.print_exc()
            print(f"honesty: FAIL: the client raised {type(e).__name__}: {e}", file=sys.stderr)
        with open(err.name) as f:
            server_err = f.read()
        if server_err:
            print(f"honesty: server.py stderr:\n{server_err}", file=sys.stderr)
        return 1
    finally:
        server.kill()
        server.wait()
        err.close()
    print("honesty: ok: the official leptonai 0.47.1 client parses every answer of server.py")
    return 0


class Check:
    def __init__(self, port, state):
        from leptonai.api.v2.client import APIClient

        self.port = port
        self.state = state
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"{self.base}/api/v2/workspaces/ws1"
        self.client = APIClient(workspace_id="ws1", auth_token=TOKEN, url=self.url)
        # Every raw answer the client gets, so its JSON can be checked strictly without
        # asking the server again (a job GET moves the job's script on).
        self.responses = []
        self.client._session.hooks["response"].append(lambda r, *a, **k: self.responses.append(r))

    # -- helpers -------------------------------------------------------------------------

    def raw(self):
        return self.responses[-1].json()

    def admin(self, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.base + "/__admin" + path,
            data=data,
            method="GET" if body is None else "POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def last_request(self, method, suffix):
        for r in reversed(self.admin("/requests")):
            if r["method"] == method and r["path"].endswith(suffix):
                return r
        raise Mismatch(f"the server logged no {method} …{suffix}")

    def setup(self, **kw):
        with open(os.path.join(self.state, "setup.json")) as f:
            s = json.load(f)
        s.update(kw)
        with open(os.path.join(self.state, "setup.json"), "w") as f:
            json.dump(s, f)

    def strict(self, model, data, where):
        """`data` parses into `model` and has no key the model lacks (at any depth)."""
        try:
            model.model_validate(data)
        except Exception as e:
            raise Mismatch(f"{where}: {model.__name__} does not parse the fake's JSON: {e}\n{json.dumps(data)[:2000]}")
        unknown = unknown_keys(model, data, where)
        expect(not unknown, f"keys the client's models do not have: {', '.join(unknown)}")

    def strict_list(self, model, data, where, parsed):
        expect(isinstance(data, list), f"{where}: expected a JSON list, got {json.dumps(data)[:300]}")
        for i, item in enumerate(data):
            self.strict(model, item, f"{where}[{i}]")
        expect_eq(len(parsed), len(data), f"{where}: items the client kept")

    def client_error(self, fn, status, what):
        from leptonai.api.v2.api_resource import ClientError

        try:
            fn()
        except ClientError as e:
            expect_eq(e.response.status_code, status, f"{what}: status")
            expect(f"Client error during API call: {status}" in str(e), f"{what}: message {e}")
            return e
        raise Mismatch(f"{what}: no ClientError {status}")

    # -- the checks ----------------------------------------------------------------------

    def run(self):
        self.workspace()
        a = self.create_and_poll()
        self.replicas_and_events(a)
        self.logs(a)
        self.live_stream()
        self.stop_start_delete(a)
        self.shapes_and_node_groups()
        self.secrets()
        self.image_pull_secrets()
        self.server_validation()
        self.bad_tokens()
        self.request_log()

    def workspace(self):
        from leptonai.api.v2.types.workspace import WorkspaceInfo

        info = self.client.info()
        self.strict(WorkspaceInfo, self.raw(), "GET /workspace")
        expect_eq(info.workspace_name, "ws1", "workspace_name")
        expect_eq(info.resource_quota.limit.accelerator_num, 16, "quota limit")
        expect("gpu.8xh100-sxm" in info.supported_shapes, "supported_shapes lists the shapes")

    def create_and_poll(self):
        from leptonai.api.v2.types.job import LeptonJob, LeptonJobState

        spec = LeptonJob.model_validate(NOTES_BODY)
        job = self.client.job.create(spec)
        self.strict(LeptonJob, self.raw(), "POST /jobs")
        sent = self.last_request("POST", "/jobs")
        expect_eq(sent["body"], NOTES_BODY, "the body the client sent (notes §2.3)")
        jid = job.metadata.id_
        expect(re.fullmatch(r"hoist-demo-[a-z0-9]{4}", jid or ""), f"suffixed id, got {jid!r}")
        expect_eq(job.metadata.name, "hoist-demo", "metadata.name")
        expect_eq(job.status.job_name, jid, "status.job_name")
        expect_eq(job.status.state, LeptonJobState.Starting, "state after create")
        expect_eq(job.metadata.created_at // 1000, job.status.creation_time, "created_at (ms) vs creation_time (s)")
        expect_eq(job.spec.completions, 2, "spec.completions")
        expect_eq(job.spec.ttl_seconds_after_finished, 259200, "spec.ttl_seconds_after_finished")
        expect_eq(job.spec.image_pull_secrets, ["ngc-pull"], "spec.image_pull_secrets")
        expect_eq(job.spec.envs[1].value_from.secret_name_ref, "HF_TOKEN", "secret env by reference")
        expect_eq(job.spec.mounts[0].from_, "node-nfs:lepton-shared-fs", "mount from")

        # The default script: Starting (1 observation), Running (2), Completed.
        seen = []
        g = self.client.job.get(jid)
        self.strict(LeptonJob, self.raw(), "GET /jobs/{id}")
        seen.append(g.status.state)
        q = self.last_request("GET", f"/jobs/{jid}")["query"]
        expect_eq(q, {"job_query_mode": ["alive_and_archive"]}, "get's query")
        g = self.client.job.get(jid)
        seen.append(g.status.state)
        expect_eq((g.status.ready, g.status.active), (2, 2), "Running: ready, active")
        listed = self.client.job.list_all()
        pages = [r for r in self.admin("/requests") if r["method"] == "GET" and r["path"].endswith("/jobs")][-2:]
        expect_eq(
            [p["query"] for p in pages],
            [
                {"job_query_mode": ["alive_only"], "page": ["1"], "page_size": ["500"]},
                {"job_query_mode": ["alive_only"], "page": ["2"], "page_size": ["500"]},
            ],
            "list_all's pages",
        )
        self.strict(dict_of_jobs(), self.responses[-2].json(), "GET /jobs page 1")
        expect_eq(self.responses[-1].json(), {"jobs": []}, "GET /jobs past the end")
        expect_eq([j.metadata.id_ for j in listed], [jid], "list_all")
        seen.append(listed[0].status.state)
        g = self.client.job.get(jid)
        self.strict(LeptonJob, self.raw(), "GET /jobs/{id} (completed)")
        seen.append(g.status.state)
        S = LeptonJobState
        expect_eq(seen, [S.Starting, S.Running, S.Running, S.Completed], "states through the default script")
        expect_eq(g.status.succeeded, 2, "Completed: succeeded")
        expect(g.status.completion_time is not None, "Completed: completion_time")
        expect_eq(len(self.client.job.list_all(q="demo")), 1, "list_all(q=)")
        expect_eq(len(self.client.job.list_all(q="nothing-like-it")), 0, "list_all(q=) no match")
        expect_eq(len(self.client.job.list_all(status=["Running"])), 0, "list_all(status=)")
        expect_eq(self.client.job.list_all(job_query_mode="archive_only"), [], "archive_only before archiving")
        return jid

    def replicas_and_events(self, jid):
        from leptonai.api.v2.types.replica import Replica
        from leptonai.api.v2.types.events import LeptonEvent

        reps = self.client.job.get_replicas(jid)
        self.strict_list(Replica, self.raw(), "GET /jobs/{id}/replicas", reps)
        expect_eq(len(reps), 2, "one replica per worker")
        for i, r in enumerate(reps):
            expect(re.fullmatch(re.escape(jid) + rf"-{i}-[a-z0-9]{{5}}", r.id_), f"replica id {r.id_}")
            expect_eq(r.metadata.id_, r.id_, "replica metadata.id")
            expect(r.status.node.name, "replica node")
        expect_eq(self.client.job.get_replicas(jid)[0].id_, reps[0].id_, "replica ids are stable")
        evs = self.client.job.get_events(jid)
        self.strict_list(LeptonEvent, self.raw(), "GET /jobs/{id}/events", evs)
        expect_eq((evs[0].type_, evs[0].reason), ("Normal", "Scheduled"), "default event")
        custom = [{"type": "Warning", "reason": "BackOff", "count": 3, "last_observed_time": "2026-07-01T00:01:00Z"}]
        self.admin(f"/jobs/{jid}/events", {"events": custom})
        evs = self.client.job.get_events(jid)
        self.strict_list(LeptonEvent, self.raw(), "GET /jobs/{id}/events (replaced)", evs)
        expect_eq(evs[0].reason, "BackOff", "replaced events")

    def logs(self, jid):
        from leptonai.api.v2.log import LogAPIError
        from leptonai.cli.log import _parse_log_entries

        reps = [r.id_ for r in self.client.job.get_replicas(jid)]
        self.admin(f"/jobs/{jid}/logs", {"lines": ["epoch 1/2", "epoch 2/2"]})
        self.admin(f"/jobs/{jid}/logs", {"replica": 1, "lines": ["worker 1 ready"]})
        job = self.client.job.get(jid)
        start = job.status.creation_time * 10**9
        end = (job.status.completion_time + 1) * 10**9

        # setup.json throttle_logs = 1: the first /logs request is refused.
        try:
            self.client.log.get_log(name_or_job=jid, start=start, end=end)
            raise Mismatch("the first /logs request was not throttled")
        except LogAPIError as e:
            expect_eq((e.status_code, e.retry_after), (429, 1.0), "429 status and Retry-After")
        d = self.client.log.get_log(name_or_job=jid, start=start, end=end)
        q = self.last_request("GET", "/logs")["query"]
        expect_eq(
            q,
            {
                "start": [str(start)], "end": [str(end)], "timestamps": ["True"], "direction": ["backward"],
                "limit": ["5000"], "q": [""], "job_query_mode": ["alive_and_archive"], "job": [jid],
            },
            "the range query",
        )
        entries, _ = _parse_log_entries(d, 100, start, end)
        expect_eq([e.line for e in entries], ["epoch 1/2", "epoch 2/2", "worker 1 ready"], "lines, oldest first")
        expect_eq(
            [dict(e.stream_labels)["replica"] for e in entries], [reps[0], reps[0], reps[1]], "each line's replica"
        )
        for s in d["data"]["result"]:
            ts = [int(v[0]) for v in s["values"]]
            expect_eq(ts, sorted(ts, reverse=True), "backward: newest first")
            expect(all(isinstance(v[0], str) for v in s["values"]), "timestamps are strings")
        expect_eq(set(d), {"status", "data"}, "top-level keys")

        d = self.client.log.get_log(name_or_job=jid, replica=reps[0], start=start, end=end)
        expect_eq([v[1] for s in d["data"]["result"] for v in s["values"]], ["epoch 2/2", "epoch 1/2"], "one replica")
        d = self.client.log.get_log(name_or_job=jid, start=start, end=end, direction="forward", limit=2)
        entries, _ = _parse_log_entries(d, 100, start, end)
        expect_eq([e.line for e in entries], ["epoch 1/2", "epoch 2/2"], "forward takes the oldest")

        # A page is capped; the next page ends (exclusive) at the oldest line seen.
        self.setup(log_page_cap=2)
        d = self.client.log.get_log(name_or_job=jid, start=start, end=end)
        entries, _ = _parse_log_entries(d, 100, start, end)
        expect_eq([e.line for e in entries], ["epoch 2/2", "worker 1 ready"], "capped page")
        oldest = entries[0].timestamp_ns
        d = self.client.log.get_log(name_or_job=jid, start=start, end=oldest)
        entries, _ = _parse_log_entries(d, 100, start, oldest)
        expect_eq([e.line for e in entries], ["epoch 1/2"], "next page")
        self.setup(log_page_cap=10000)

        d = self.client.log.get_log(name_or_job=jid)
        expect_eq(self.last_request("GET", "/logs")["query"], {"job": [jid]}, "the query without a range")
        entries, _ = _parse_log_entries(d, 100, 1, 2**63)
        expect_eq(len(entries), 3, "all lines without a range")
        d = self.client.log.get_log(name_or_job=jid, start=start, end=start + 1)
        expect_eq(d, {"status": "success", "data": {"resultType": "streams", "result": []}}, "empty range")

    def live_stream(self):
        from leptonai.api.v2.types.job import LeptonJob

        b = self.client.job.create(
            LeptonJob.model_validate(
                {"metadata": {"id": "live"}, "spec": {"resource_shape": "cpu.small", "container": {"image": "busybox"}}}
            )
        )
        jid = b.metadata.id_
        self.admin(f"/jobs/{jid}", {"script": [["Running", 0]]})
        rid = self.client.job.get_replicas(jid)[0].id_
        self.admin(f"/jobs/{jid}/logs", {"lines": ["early line"]})
        chunks = []
        failure = []

        def read():
            try:
                chunks.extend(self.client.job.get_log(jid, rid, timeout=30))
            except Exception as e:
                failure.append(e)

        t = threading.Thread(target=read)
        t.start()
        deadline = time.time() + 10
        while not chunks and time.time() < deadline:
            time.sleep(0.05)
        expect(chunks, "the live stream did not send the lines so far")
        self.admin(f"/jobs/{jid}/logs", {"lines": ["late line"]})
        time.sleep(0.5)
        expect("late line" in "".join(chunks), "the live stream did not send a new line while running")
        self.admin(f"/jobs/{jid}", {"state": "Completed"})
        t.join(10)
        expect(not t.is_alive(), "the live stream did not end when the job completed")
        expect(not failure, f"the live stream failed: {failure}")
        expect_eq("".join(chunks), "early line\nlate line\n", "the live stream's text")
        r = self.responses[-1] if self.responses[-1].request.path_url.endswith("/log") else None
        expect(r is not None and r.headers.get("Content-Type", "").startswith("text/plain"), "text/plain stream")
        self.client.job.delete(jid)

    def stop_start_delete(self, a):
        from leptonai.api.v2.types.job import LeptonJob, LeptonJobState as S

        c = self.client.job.create(
            LeptonJob.model_validate(
                {"metadata": {"id": "stopme"}, "spec": {"resource_shape": "gpu.2xh100-sxm", "container": {"image": "x"}}}
            )
        )
        cid = c.metadata.id_
        self.admin(f"/jobs/{cid}", {"state": "Running"})
        expect(self.client.job.update(cid, spec={"spec": {"stopped": True}}), "update(stopped) returned false")
        expect_eq(self.last_request("PATCH", f"/jobs/{cid}")["body"], {"spec": {"stopped": True}}, "stop body")
        states = []
        for _ in range(3):
            g = self.client.job.get(cid)
            self.strict(LeptonJob, self.raw(), "GET /jobs/{id} (stopping)")
            states.append(g.status.state)
        expect_eq(states, [S.Stopping, S.Stopped, S.Stopped], "states after a stop")
        expect_eq(g.spec.stopped, True, "spec.stopped after a stop")
        self.client.job.update(cid, spec={"spec": {"stopped": False}})
        g = self.client.job.get(cid)
        expect_eq((g.status.state, g.spec.stopped), (S.Running, False), "after a start")

        # A stop changes nothing on a finished job.
        self.client.job.update(a, spec={"spec": {"stopped": True}})
        expect_eq(self.client.job.get(a).status.state, S.Completed, "stop on a completed job")

        # Archived: out of alive_only, in archive_only.
        self.admin(f"/jobs/{a}", {"state": "Archived"})
        expect_eq([j.metadata.id_ for j in self.client.job.list_all(job_query_mode="archive_only")], [a], "archive_only")
        expect(a not in [j.metadata.id_ for j in self.client.job.list_all()], "alive_only lists an archived job")
        g = self.client.job.get(a)
        expect_eq((g.status.state, g.status.succeeded), (S.Archived, 2), "archived keeps its counts")

        expect(self.client.job.delete(cid), "delete returned false")
        expect_eq(self.last_request("DELETE", f"/jobs/{cid}")["query"], {"job_query_mode": ["alive_only"]}, "delete query")
        e = self.client_error(lambda: self.client.job.get(cid), 404, "get after delete")
        expect_eq(e.response.json(), {"code": "NotFound", "message": f"job {cid} not found"}, "404 body")
        self.client_error(lambda: self.client.job.delete(cid), 404, "delete twice")

    def shapes_and_node_groups(self):
        from leptonai.api.v2.types.shape import Shape
        from leptonai.api.v2.types.dedicated_node_group import DedicatedNodeGroup

        shapes = self.client.shapes.list_shapes(node_group="ng-abc123", purpose="job")
        self.strict_list(Shape, self.raw(), "GET /shapes", shapes)
        expect_eq(self.last_request("GET", "/shapes")["query"], {"node_groups": ["ng-abc123"], "purpose": ["job"]}, "shapes query")
        by_id = {s.metadata.id_: s for s in shapes}
        expect_eq(sorted(by_id), ["cpu.small", "gpu.1xh100-sxm", "gpu.2xh100-sxm", "gpu.8xh100-sxm"], "shape ids")
        expect_eq(by_id["gpu.8xh100-sxm"].spec.accelerator_num, 8, "8x accelerator_num")
        expect_eq(by_id["cpu.small"].spec.accelerator_num, None, "cpu.small has no accelerator")
        expect_eq(self.client.shapes.list_shapes(node_group="ng-other"), [], "shapes of another node group")
        groups = self.client.nodegroup.list_all()
        self.strict_list(DedicatedNodeGroup, self.raw(), "GET /dedicated-node-groups", groups)
        expect_eq((groups[0].metadata.id_, groups[0].metadata.name), ("ng-abc123", "my-h100s"), "node group")
        expect_eq(groups[0].spec.volumes[0].size_in_gb, 1000, "volume size")
        g = self.client.nodegroup.get("ng-abc123")
        self.strict(DedicatedNodeGroup, self.raw(), "GET /dedicated-node-groups/{id}")
        expect_eq(g.status.ready_nodes, 2, "ready_nodes")

    def secrets(self):
        from leptonai.api.v2.types.secret import SecretItem
        from leptonai.api.v2.types.common import LeptonVisibility

        value = "hf_honesty_secret_value"
        ok = self.client.secret.create([SecretItem(name="HF_TOKEN", value=value, visibility=LeptonVisibility.PRIVATE)])
        expect(ok, "secret create returned false")
        expect_eq(
            self.last_request("POST", "/usersecrets")["body"],
            [{"name": "HF_TOKEN", "visibility": "private"}],
            "the logged secret body (value left out)",
        )
        items = self.client.secret.list_all()
        self.strict_list(SecretItem, self.raw(), "GET /usersecrets", items)
        expect_eq([(s.name, s.value, s.owner) for s in items], [("HF_TOKEN", None, "u@example.com")], "secrets")
        expect(self.client.secret.delete("HF_TOKEN"), "secret delete returned false")
        self.client_error(lambda: self.client.secret.delete("HF_TOKEN"), 404, "delete a missing secret")
        self.no_file_holds(value, "a secret value")

    def image_pull_secrets(self):
        # leptonai 0.47.1 has no image pull secret API (TAO 7.0.0 called the routes itself):
        # the client's own session, headers and error handling.
        password = "ngc-honesty-password"
        body = {
            "metadata": {"name": "ngc-pull", "id": "ngc-pull"},
            "spec": {"registry_server": "https://nvcr.io", "username": "$oauthtoken", "password": password},
        }
        job_api = self.client.job
        r = self.client._post("/imagepullsecrets", json=body)
        expect_eq(r.status_code, 201, "POST /imagepullsecrets")
        expect_eq(r.json(), {}, "POST /imagepullsecrets body")
        self.client_error(lambda: job_api.ensure_ok(self.client._post("/imagepullsecrets", json=body)), 409, "same name again")
        listed = job_api.ensure_json(self.client._get("/imagepullsecrets"))
        expect_eq(
            listed,
            [{"metadata": {"name": "ngc-pull", "id": "ngc-pull"}, "spec": {"registry_server": "https://nvcr.io", "username": "$oauthtoken"}}],
            "GET /imagepullsecrets",
        )
        expect_eq(self.last_request("POST", "/imagepullsecrets")["body"]["spec"]["password"], "<redacted>", "logged password")
        self.no_file_holds(password, "an image pull password")
        # What hoist does for any registry login: a name from server and user, the registry as
        # an https URL, the optional email the API server's spec has; made again by delete and
        # create (the API has no update) when the password is a command's short-lived output.
        name = "hoist-127-0-0-1-5000-0a1b2c3d"
        private = {
            "metadata": {"name": name, "id": name},
            "spec": {"registry_server": "https://127.0.0.1:5000", "username": "ci", "password": "pw-1", "email": ""},
        }
        expect_eq(self.client._post("/imagepullsecrets", json=private).status_code, 201, "POST a private registry's")
        expect_eq(job_api.ensure_ok(self.client._delete(f"/imagepullsecrets/{name}")), True, "DELETE /imagepullsecrets/{name}")
        self.client_error(
            lambda: job_api.ensure_ok(self.client._delete(f"/imagepullsecrets/{name}")), 404, "delete a missing pull secret"
        )
        private["spec"]["password"] = "pw-2"
        expect_eq(self.client._post("/imagepullsecrets", json=private).status_code, 201, "POST it again")
        stored = self.admin("/state")["image_pull_secrets"][name]
        expect_eq(stored["password_sha256"], hashlib.sha256(b"pw-2").hexdigest(), "the new password is the one kept")
        bad_name = {"metadata": {"name": "Hoist_127.0.0.1:5000"}, "spec": private["spec"]}
        self.client_error(
            lambda: job_api.ensure_ok(self.client._post("/imagepullsecrets", json=bad_name)), 400, "a name that is no DNS name"
        )
        self.no_file_holds("pw-2", "an image pull password")

    def server_validation(self):
        ok = {"resource_shape": "cpu.small", "container": {"image": "x"}}
        cases = [
            ({"id": "x" * 37}, ok, "longer than 36"),
            ({"id": "Upper"}, ok, "lowercase"),
            ({"id": "trailing-"}, ok, "hyphen"),
            ({"id": "fine"}, {"resource_shape": "gpu.nope", "container": {"image": "x"}}, "gpu.nope"),
            ({"id": "fine"}, {"resource_shape": "cpu.small", "container": {}}, "image"),
        ]
        for meta, spec, words in cases:
            e = self.client_error(
                lambda: self.client.job.ensure_ok(self.client._post("/jobs", json={"metadata": meta, "spec": spec})),
                400,
                f"create {meta} {spec}",
            )
            b = e.response.json()
            expect_eq(b.get("code"), "InvalidArgument", "400 code")
            expect(words in b.get("message", ""), f"400 message {b} names {words!r}")

    def bad_tokens(self):
        from leptonai.api.v2.client import APIClient
        from leptonai.api.v2.utils import WorkspaceForbiddenError, WorkspaceNotFoundError, WorkspaceUnauthorizedError

        bad = APIClient(workspace_id="ws1", auth_token="wrong-token", url=self.url)
        try:
            bad.info()
            raise Mismatch("a bad token was accepted by /workspace")
        except WorkspaceUnauthorizedError:
            pass
        e = self.client_error(lambda: bad.job.get("anything"), 401, "a bad token on a job call")
        expect_eq(e.response.json(), {"code": "Unauthorized", "message": "invalid token"}, "401 body")
        expect_eq(self.last_request("GET", "/jobs/anything")["auth"], "bad", "logged auth of a bad token")
        other = APIClient(workspace_id="ws1", auth_token="other-env-token", url=self.url)
        try:
            other.info()
            raise Mismatch("a forbidden token was accepted")
        except WorkspaceForbiddenError:
            pass
        self.client_error(lambda: other.job.list_all(), 403, "a forbidden token on a job call")
        nows = APIClient(workspace_id="ws2", auth_token=TOKEN, url=f"{self.base}/api/v2/workspaces/ws2")
        try:
            nows.info()
            raise Mismatch("another workspace was found")
        except WorkspaceNotFoundError:
            pass

    def request_log(self):
        log = self.admin("/requests")
        with open(os.path.join(self.state, "requests.log")) as f:
            lines = [json.loads(l) for l in f]
        expect_eq(lines, log, "requests.log vs GET /__admin/requests")
        for r in log:
            expect_eq(set(r), {"method", "path", "query", "origin", "auth", "body"}, "request log keys")
            expect(r["origin"] is None, f"an origin header off the gateway: {r}")
            expect(r["auth"] in ("ok", "bad"), f"auth {r['auth']}")
        expect(any(r["auth"] == "ok" for r in log), "no authenticated request logged")
        self.no_file_holds(TOKEN, "the token")

    def no_file_holds(self, secret, what):
        for name in os.listdir(self.state):
            with open(os.path.join(self.state, name), errors="replace") as f:
                expect(secret not in f.read(), f"{what} is in the state directory's {name}")


def dict_of_jobs():
    """A model for the {"jobs": [...]} page (the client reads it with list_key="jobs")."""
    from pydantic import create_model
    from leptonai.api.v2.types.job import LeptonJob

    return create_model("JobPage", jobs=(typing.List[LeptonJob], ...))


def unknown_keys(model, data, where):
    """Keys in `data` that `model` (recursively) has no field for."""
    from pydantic import BaseModel

    out = []
    if not isinstance(data, dict):
        return out
    fields = {}
    for name, info in model.model_fields.items():
        fields[info.alias or name] = info.annotation
    for k, v in data.items():
        if k not in fields:
            out.append(f"{where}.{k}")
            continue
        out.extend(check_value(fields[k], v, f"{where}.{k}", BaseModel))
    return out


def check_value(ann, v, where, BaseModel):
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return unknown_keys(ann, v, where)
    if origin in (typing.Union, getattr(pytypes, "UnionType", typing.Union)):
        for a in args:
            if a is not type(None) and v is not None:
                return check_value(a, v, where, BaseModel)
        return []
    if origin in (list, typing.List) and isinstance(v, list) and args:
        out = []
        for i, item in enumerate(v):
            out.extend(check_value(args[0], item, f"{where}[{i}]", BaseModel))
        return out
    if origin in (dict, typing.Dict) and isinstance(v, dict) and len(args) == 2:
        out = []
        for k, item in v.items():
            out.extend(check_value(args[1], item, f"{where}.{k}", BaseModel))
        return out
    return []


if __name__ == "__main__":
    sys.exit(main())
