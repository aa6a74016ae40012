"""A local stand-in for the BigQuery REST API: the real google-cloud-bigquery client talks to it (point
`SLUICE_BIGQUERY_API_ENDPOINT` at `serve()`'s url), it records every request and answers as the API documents:
tables (and their `$YYYYMMDD` partitions' row counts), load jobs by multipart or resumable upload, jobs.get, a
409 for a job id that exists, and dry-run queries. BigQuery cannot run here; this is what its contract tests use."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pyarrow.parquet as pq


@dataclass
class Recorded:
    method: str
    path: str  # unquoted
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class FakeBigQuery:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    datasets: set[str] = field(default_factory=lambda: {"sluice_marts"})
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)  # table id -> resource
    partitions: dict[tuple[str, str], int] = field(default_factory=dict)  # (table, yyyymmdd) -> rows
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)  # job id -> resource
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)  # resumable upload id -> job metadata
    bodies: dict[str, bytes] = field(default_factory=dict)  # load job id -> the uploaded data
    lose_next_job_response: bool = False  # create the job, then answer 503 as if the response was lost
    fail_loads: bool = False  # load jobs end DONE with an error
    dry_run_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self, method: str, contains: str = "") -> list[Recorded]:
        return [r for r in self.requests if r.method == method and contains in r.path]


def _error(code: int, status: str, message: str, reason: str) -> tuple[int, dict[str, Any]]:
    return code, {"error": {"code": code, "message": message, "status": status,
                            "errors": [{"reason": reason, "message": message, "domain": "global"}]}}  # fmt: skip


def multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], bytes]:
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    parts = [p for p in body.split(b"--" + boundary) if p.strip() not in (b"", b"--")]
    metadata, data = (p.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n") for p in parts)
    return json.loads(metadata), data


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBigQuery

    def log_message(self, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        recorded = Recorded(self.command, unquote(url.path), parse_qs(url.query), headers, body)
        with self.fake.lock:
            self.fake.requests.append(recorded)
            try:
                status, answer, headers = _answer(self.fake, recorded)
            except Exception as error:  # noqa: BLE001 - a bug in the fake: a 400 the client does not retry, naming it
                status, answer, headers = *_error(400, "INVALID_ARGUMENT", f"fake: {error!r}", "invalid"), {}
        payload = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = _handle


def _answer(fake: FakeBigQuery, r: Recorded) -> tuple[int, Any, dict[str, str]]:
    parts = r.path.strip("/").split("/")
    if r.path.startswith("/upload/bigquery/v2/projects/") and parts[-1] == "jobs":
        return _upload(fake, r, project=parts[4])
    if parts[:3] != ["bigquery", "v2", "projects"]:
        return (*_error(404, "NOT_FOUND", f"Not found: URL {r.path}", "notFound"), {})
    project, rest = parts[3], parts[4:]
    if rest[:1] == ["jobs"] and r.method == "POST":
        return _insert_query(fake, project, r.json())
    if rest[:1] == ["jobs"]:
        return _get_job(fake, rest[1])
    if rest[:1] == ["queries"]:
        job = fake.jobs[rest[1]]
        return 200, {"kind": "bigquery#getQueryResultsResponse", "jobReference": job["jobReference"],
                     "jobComplete": True, "totalRows": "1", "schema": {"fields": [{"name": "n", "type": "INT64"}]},
                     "rows": [{"f": [{"v": "42"}]}]}, {}  # fmt: skip
    if rest[:1] == ["datasets"] and rest[1] not in fake.datasets:
        return (*_error(404, "NOT_FOUND", f"Not found: Dataset {project}:{rest[1]}", "notFound"), {})
    if rest[:1] == ["datasets"] and len(rest) == 3 and r.method == "POST":
        return _insert_table(fake, f"{project}:{rest[1]}", r.json())
    if rest[:1] == ["datasets"] and len(rest) == 4:
        return _table(fake, r, f"{project}:{rest[1]}", rest[3])
    return (*_error(400, "INVALID_ARGUMENT", f"the fake does not know {r.method} {r.path}", "invalid"), {})


def _upload(fake: FakeBigQuery, r: Recorded, project: str) -> tuple[int, Any, dict[str, str]]:
    if r.query["uploadType"] == ["multipart"]:  # the job resource and the data in one request
        return _insert_load(fake, *multipart(r.headers["content-type"], r.body))
    if r.method == "POST":  # resumable: start a session; the data follows in a PUT to its Location
        upload = f"u{len(fake.uploads)}"
        fake.uploads[upload] = r.json()
        location = f"{fake.url}/upload/bigquery/v2/projects/{project}/jobs?uploadType=resumable&upload_id={upload}"
        return 200, {}, {"Location": location}
    return _insert_load(fake, fake.uploads[r.query["upload_id"][0]], r.body)


def _insert_table(fake: FakeBigQuery, dataset: str, resource: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    name = resource["tableReference"]["tableId"]
    if name in fake.tables:
        return (*_error(409, "ALREADY_EXISTS", f"Already Exists: Table {dataset}.{name}", "duplicate"), {})
    fake.tables[name] = {**resource, "id": f"{dataset}.{name}", "etag": "e1", "type": "TABLE"}
    return 200, fake.tables[name], {}


def _table(fake: FakeBigQuery, r: Recorded, dataset: str, table_id: str) -> tuple[int, Any, dict[str, str]]:
    """tables.get and tables.patch; `table$YYYYMMDD` reads one partition's metadata."""
    name, _, partition = table_id.partition("$")
    if name not in fake.tables:
        return (*_error(404, "NOT_FOUND", f"Not found: Table {dataset}.{table_id}", "notFound"), {})
    if r.method == "PATCH":
        fake.tables[name] = {**fake.tables[name], **r.json()}
    rows = sum(n for (t, day), n in fake.partitions.items() if t == name and partition in ("", day))
    return 200, {**fake.tables[name], "numRows": str(rows)}, {}


def _insert_load(fake: FakeBigQuery, metadata: dict[str, Any], data: bytes) -> tuple[int, Any, dict[str, str]]:
    reference = metadata["jobReference"]
    if reference["jobId"] in fake.jobs:
        message = f"Already Exists: Job {reference['projectId']}:{reference['location']}.{reference['jobId']}"
        return (*_error(409, "ALREADY_EXISTS", message, "duplicate"), {})
    rows = pq.read_table(io.BytesIO(data)).num_rows
    job = {**metadata, "id": f"{reference['projectId']}:{reference['location']}.{reference['jobId']}",
           "status": {"state": "RUNNING"}, "statistics": {"load": {"outputRows": str(rows)}}}  # fmt: skip
    fake.jobs[reference["jobId"]] = job
    fake.bodies[reference["jobId"]] = data
    if fake.lose_next_job_response:
        fake.lose_next_job_response = False
        return (*_error(503, "UNAVAILABLE", "the response was lost", "backendError"), {})
    return 200, job, {}


def _insert_query(fake: FakeBigQuery, project: str, resource: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    reference = {"projectId": project, "location": "EU", **resource.get("jobReference", {})}
    done = {"state": "DONE"}
    if resource["configuration"].get("dryRun"):
        scanned = str(fake.dry_run_bytes)
        stats = {"totalBytesProcessed": scanned, "query": {"totalBytesProcessed": scanned}}
        return 200, {**resource, "jobReference": reference, "status": done, "statistics": stats}, {}
    job = {**resource, "jobReference": reference, "status": done, "statistics": {"query": {}}}
    fake.jobs[reference["jobId"]] = job
    return 200, job, {}


def _get_job(fake: FakeBigQuery, job_id: str) -> tuple[int, Any, dict[str, str]]:
    job = fake.jobs.get(job_id)
    if job is None:
        return (*_error(404, "NOT_FOUND", f"Not found: Job {job_id}", "notFound"), {})
    if job["status"]["state"] == "RUNNING":  # it finishes while the client waits
        if fake.fail_loads:
            error = {"reason": "invalid", "message": "Error while reading data, error message: bad Parquet"}
            job["status"] = {"state": "DONE", "errorResult": error, "errors": [error]}
        else:
            job["status"] = {"state": "DONE"}
            load = job["configuration"]["load"]["destinationTable"]
            table, _, partition = load["tableId"].partition("$")
            fake.partitions[(table, partition)] = int(job["statistics"]["load"]["outputRows"])
    return 200, job, {}


@contextmanager
def serve() -> Iterator[FakeBigQuery]:
    """The stand-in on a free loopback port, for the duration of the block."""
    state = FakeBigQuery()
    handler = type("Handler", (_Handler,), {"fake": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
