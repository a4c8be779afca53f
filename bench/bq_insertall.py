"""Streams the viewing events sb loaded into a BigQuery emulator back in with
row-batch streaming inserts (insertAll, 5,000 rows a request), and prints how
long that took: the figure sb's load jobs are compared with in the README.

    SB_BQ_PROJECT=perf SB_BIGQUERY_API_URL=http://127.0.0.1:PORT sb seed -t prod -s source:synthetic
    python3 bench/bq_insertall.py http://127.0.0.1:PORT perf
"""
import json
import sys
import time
import urllib.request

root, project = sys.argv[1], sys.argv[2]
base = f"{root}/bigquery/v2/projects/{project}"


def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    return json.load(urllib.request.urlopen(request, timeout=600))


job = call("POST", "/jobs", {"configuration": {"query": {
    "query": "select to_json_string(t) as j from synthetic.viewing_events as t",
    "useLegacySql": False,
}}})
job_id = job["jobReference"]["jobId"]
rows, token = [], None
while True:
    page = call("GET", f"/queries/{job_id}?maxResults=50000" + (f"&pageToken={token}" if token else ""))
    rows += [json.loads(r["f"][0]["v"]) for r in page.get("rows", [])]
    token = page.get("pageToken")
    if not token or len(rows) >= int(page["totalRows"]):
        break
schema = call("GET", "/datasets/synthetic/tables/viewing_events")["schema"]
call("POST", "/datasets/synthetic/tables", {
    "tableReference": {"projectId": project, "datasetId": "synthetic", "tableId": "events_streamed"},
    "schema": schema,
})
started = time.time()
for i in range(0, len(rows), 5000):
    batch = [{"insertId": str(i + k), "json": row} for k, row in enumerate(rows[i:i + 5000])]
    answer = call("POST", "/datasets/synthetic/tables/events_streamed/insertAll", {"rows": batch})
    if answer.get("insertErrors"):
        sys.exit(f"insert errors: {answer['insertErrors'][:2]}")
print(f"{len(rows)} rows by insertAll in 5,000-row batches: {time.time() - started:.2f} s")
