//! A client generated from the served document works: `openapi-python-client`
//! (PyPI) generates a package with no hand edit and no warning, and a script
//! using only that package lists with filter, sort and cursor, reads an item,
//! imports on CloudMC v2 (the demo's `coxedge-prod`), asks a download URL
//! of the new item and polls its task, and
//! reads a problem answer. If generation fails, the document is wrong.

#[path = "support/live.rs"]
mod live;

use std::process::Command;

use live::{Live, run, scratch, text};

const SCRIPT: &str = r##"
import sys, time
sys.path.insert(0, sys.argv[2])
from isogate_client import Client
from isogate_client.api.listings import list_isos, list_provider_isos, list_provider_isos_coxedge_prod, get_iso
from isogate_client.api.items import import_iso_coxedge_prod, create_download_url
from isogate_client.api.providers import get_task
from isogate_client.models import (ImportRequestCoxedgeProd, GetTaskProvider,
    ListProviderIsosProvider, CreateDownloadUrlProvider, ListResponse, Iso, Problem, Task, TaskStatus)

client = Client(base_url=sys.argv[1], raise_on_unexpected_status=True)

def field(item, name):
    return getattr(item, name) if isinstance(item, Iso) else item[name]

# Filter, sort and cursor: two pages of ISOs by name, no overlap, in order.
first = list_isos.sync_detailed(client=client, filter_="kind,eq,iso", sort="name,asc", per_page=3)
assert first.status_code == 200, first
page1 = first.parsed
assert isinstance(page1, ListResponse), page1
assert len(page1.data) == 3 and page1.meta.total > 3, page1.meta
assert all(field(i, "kind") == "iso" for i in page1.data)
cursor = page1.meta.next_cursor
assert isinstance(cursor, str) and cursor, page1.meta
page2 = list_isos.sync(client=client, filter_="kind,eq,iso", sort="name,asc", per_page=3, cursor=cursor)
assert isinstance(page2, ListResponse), page2
names = [field(i, "name").lower() for i in page1.data + page2.data]
ids = [field(i, "id") for i in page1.data + page2.data]
assert len(set(ids)) == 6, ids
assert names == sorted(names), names

# One item by its global id.
one = get_iso.sync(client=client, id=ids[0])
assert isinstance(one, Iso) and one.id == ids[0], one

# Import on CloudMC v2 into one of its zones; the demo's CloudMC v2 answers
# the item (201) or a task (202). Then a download URL of the new item, which
# CloudMC answers with a task: poll both tasks to their end.
# A provider that imports has its own path (its listing included); the
# others share the `{provider}` template.
assert "coxedge-prod" not in [p.value for p in ListProviderIsosProvider]
legacy = list_provider_isos.sync(client=client, provider=ListProviderIsosProvider("cloudmc-legacy"), per_page=1)
assert isinstance(legacy, ListResponse) and len(legacy.data) == 1, legacy
zoned = list_provider_isos_coxedge_prod.sync(client=client, per_page=1, fields="zones")
zone = field(zoned.data[0], "zones")[0]
zone_id = zone["id"] if isinstance(zone, dict) else zone.id

def poll(task):
    assert isinstance(task, Task), task
    for _ in range(100):
        task = get_task.sync(GetTaskProvider("coxedge-prod"), task.id, client=client)
        assert isinstance(task, Task), task
        if task.status != TaskStatus.PENDING:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task.id} still pending")

# Each provider's import is its own operation: its URL rules are its own.
started = import_iso_coxedge_prod.sync_detailed(
    client=client,
    body=ImportRequestCoxedgeProd(name="generated-client", url="http://releases.example.com/gen/client.iso",
                       zone_id=zone_id, extractable=True))
assert started.status_code in (201, 202), started
if started.status_code == 202:
    done = poll(started.parsed)
    assert done.status == TaskStatus.SUCCEEDED, done
    imported = get_iso.sync(client=client, id="coxedge-prod:" + done.result["id"])
else:
    imported = started.parsed
assert isinstance(imported, Iso) and imported.name == "generated-client", imported
# The upload is processed upstream: poll the item until it is ready.
for _ in range(100):
    imported = get_iso.sync(client=client, id=imported.id)
    assert isinstance(imported, Iso), imported
    if imported.status.value == "ready":
        break
    time.sleep(0.1)
assert imported.status.value == "ready", imported
url = create_download_url.sync_detailed(CreateDownloadUrlProvider("coxedge-prod"),
                                        imported.native_id, client=client)
assert url.status_code == 202, url
task = poll(url.parsed)
assert task.status == TaskStatus.SUCCEEDED, task
assert task.result["url"].startswith("http"), task.result

# A problem answer: a malformed filter is a 400 problem naming the parameter,
# an unknown item a 404.
bad = list_isos.sync_detailed(client=client, filter_="size_bytes,lt,abc")
assert bad.status_code == 400, bad
assert isinstance(bad.parsed, Problem) and bad.parsed.code == "invalid_query", bad.parsed
assert "filter" in bad.parsed.detail, bad.parsed.detail
missing = get_iso.sync_detailed(client=client, id="coxedge-prod:no-such-item")
assert missing.status_code == 404 and isinstance(missing.parsed, Problem), missing
print("generated client ok: import", started.status_code, "task", task.status)
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_generated_from_the_document_lists_reads_imports_and_reads_problems() {
    let bin = isogate_testkit::tools::python_env();
    let live = Live::start(false).await;
    let dir = scratch("generated-client");
    let doc = fetch(&format!("{}/openapi.json", live.base())).await;
    std::fs::write(dir.join("openapi.json"), &doc).unwrap();
    // No post hooks: the formatters they call (ruff) are not part of the venv.
    std::fs::write(dir.join("config.yaml"), "post_hooks: []\n").unwrap();
    let mut generate = Command::new(bin.join("openapi-python-client"));
    generate.current_dir(&dir).args([
        "generate",
        "--path",
        "openapi.json",
        "--meta",
        "none",
        "--fail-on-warning",
        "--config",
        "config.yaml",
    ]);
    let out = run(generate).await;
    assert!(
        out.status.success() && dir.join("isogate_client").is_dir(),
        "openapi-python-client could not generate a client from /openapi.json \
         (the document is wrong):\n{}",
        text(&out)
    );
    std::fs::write(dir.join("use_client.py"), SCRIPT).unwrap();
    let mut script = Command::new(bin.join("python"));
    script
        .arg(dir.join("use_client.py"))
        .arg(live.base())
        .arg(&dir);
    let out = run(script).await;
    assert!(
        out.status.success(),
        "the generated client failed against the gateway:\n{}",
        text(&out)
    );
    eprintln!("{}", text(&out).trim());
    assert!(text(&out).contains("generated client ok"), "{}", text(&out));
}

/// The document as served (curl: the gateway crate has no HTTP client).
async fn fetch(url: &str) -> Vec<u8> {
    let mut cmd = Command::new("curl");
    cmd.args(["-sf", url]);
    let out = run(cmd).await;
    assert!(out.status.success(), "GET {url}: {}", text(&out));
    out.stdout
}
