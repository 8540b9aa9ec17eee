"""Drive the VSS simulator with the real PyPI client `pyvss`.

Run by `cargo test -p isogate-vss --test real_clients` (venv from
tests/python/requirements.txt); by hand:

    cargo run -p isogate-sim --example vss_sim -- 8710 &
    target/pyenv/bin/python crates/sim/scripts/vss_pyvss_check.py http://127.0.0.1:8710

Prints each call and a summary of what it returned; exits non-zero on the
first expectation that does not hold.
"""

import re
import sys
import time

# VSS's timestamp forms: today's with the weekday, and the 2017-era one.
WEEKDAY = re.compile(r"^\d{4}-\d\d-\d\d (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:\d\d:\d\d [A-Z]{2,4}$")
OLD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{2,4}$")

from pyvss.exceptions import VssError
from pyvss.manager import VssManager


def show(call, result):
    print(f"{call}\n  -> {result}")


def main(endpoint):
    vss = VssManager(api_endpoint=endpoint)
    tk = vss.get_token("sim-user", "sim-password")
    show("vss.get_token('sim-user', 'sim-password')",
         f"JWT of {len(tk)} chars, tf_enabled={vss.tf_enabled}")
    assert tk.count(".") == 2 and vss.tf_enabled is False

    first = vss.request("/iso", params={"per_page": 250, "expand": 1})
    total = first["meta"]["pages"]["total"]
    ptotal = vss.request("/user/image/iso", params={"per_page": 1, "expand": 1})["meta"]["pages"]["total"]
    assert total > 0 and ptotal > 0, (total, ptotal)

    # Every page of both catalogues at several page sizes, by next_url.
    for per_page in (7, 25, 100, 250):
        pub = vss._get_objects("/iso", show_all=True, per_page=per_page)
        own = vss.get_user_isos(show_all=True, per_page=per_page)
        show(f"every page of /iso and /user/image/iso at per_page={per_page}",
             f"{len(pub)} public, {len(own)} personal")
        assert len(pub) == total and len({i["id"] for i in pub}) == total, (per_page, len(pub), total)
        assert [i["id"] for i in pub] == sorted(i["id"] for i in pub), per_page
        assert len(own) == ptotal and len({i["id"] for i in own}) == ptotal, (per_page, len(own), ptotal)
    pages = vss.request("/iso", params={"per_page": 7, "page": 2})["meta"]["pages"]
    assert pages["pages"] == -(-total // 7) and pages["page"] == 2 and pages["per_page"] == 7, pages

    stamps = [i[f] for i in pub + own for f in ("created_on", "updated_on")]
    bad = [t for t in stamps if not (WEEKDAY.match(t) or OLD.match(t))]
    assert not bad, bad[:5]
    weekday = sum(1 for t in stamps if WEEKDAY.match(t))
    show("timestamps", f"{weekday} of {len(stamps)} carry the weekday, e.g. {stamps[0]}")
    assert 0 < weekday < len(stamps), "both forms are served"

    isos = vss.get_isos()
    show("vss.get_isos()  # /iso then /user/image/iso, first page of 250 each",
         f"{len(isos)} items, e.g. {isos[0]}")

    everything = vss.get_isos(show_all=True, per_page=25)
    show("vss.get_isos(show_all=True, per_page=25)  # follows next_url",
         f"{len(everything)} items")
    personal = vss.get_user_isos(show_all=True)
    assert len(everything) == total + len(personal), (len(everything), total)

    page = vss._get_objects("/iso", per_page=10, page=3)
    show("vss._get_objects('/iso', per_page=10, page=3)",
         f"{len(page)} items, ids {[i['id'] for i in page]}")
    assert len(page) == 10 and page[0]["id"] == 21

    cent = vss.get_isos(show_all=True, filter="name,like,CentO%", sort="name,desc")
    show("vss.get_isos(show_all=True, filter='name,like,CentO%', sort='name,desc')",
         f"{len(cent)} items: {[i['name'] for i in cent[:3]]}...")
    names = [i["name"] for i in cent]
    assert cent and all(n.startswith("CentO") for n in names) and names == sorted(names, reverse=True)

    ub = vss.get_isos(filter="name,like,ub%", sort="name,asc")
    show("vss.get_isos(filter='name,like,ub%', sort='name,asc')",
         f"{len(ub)} items: {[i['name'] for i in ub[:3]]}...")
    assert ub and [i["name"] for i in ub] == sorted(i["name"] for i in ub)

    both = vss.get_isos(show_all=True, filter="name,like,%x86_64%;id,lt,60", sort="data_store,asc;name,desc")
    show("vss.get_isos(show_all=True, filter='name,like,%x86_64%;id,lt,60', sort='data_store,asc;name,desc')",
         f"{len(both)} items, first {both[0]['data_store']} {both[0]['name']}")
    assert all("x86_64" in i["name"] for i in both)
    keys = [(i["data_store"], i["name"]) for i in both if i["public"]]
    assert keys == sorted(keys, key=lambda k: (k[0], [-ord(c) for c in k[1]]))

    ins = vss.get_isos(filter="id,in,3,5,8", per_page=250)
    show("vss.get_isos(filter='id,in,3,5,8')", sorted({i['id'] for i in ins}))

    personal = vss.get_user_isos()
    show("vss.get_user_isos()", f"{len(personal)} items, e.g. {personal[0]}")

    req = vss.sync_user_isos()
    show("vss.sync_user_isos()", req)
    rid = req["request"]["id"]
    statuses = []
    for _ in range(30):
        r = vss.get_image_sync_request(rid)
        if not statuses or statuses[-1] != r["status"]:
            statuses.append(r["status"])
        if r["status"] in ("PROCESSED", "ERROR"):
            break
        time.sleep(0.3)
    show(f"vss.get_image_sync_request({rid})  # polled", f"statuses {statuses}, added {r['added']}")
    assert statuses[-1] == "PROCESSED"
    after = vss.get_user_isos()
    show("vss.get_user_isos()  # after sync", f"{len(after)} items")
    assert len(after) == len(personal) + len(r["added"])

    reqs = vss.get_image_sync_requests(filter="status,eq,PROCESSED")
    show("vss.get_image_sync_requests(filter='status,eq,PROCESSED')", [x["id"] for x in reqs])

    opts = vss.request("/iso", method=vss.OPTIONS)
    show("vss.request('/iso', method='OPTIONS')", opts["data"]["methods"])

    try:
        VssManager(tk="not.a.token", api_endpoint=endpoint).get_isos()
        raise AssertionError("bad token accepted")
    except VssError as e:
        show("VssManager(tk='not.a.token').get_isos()", f"VssError {e}")
    try:
        vss.get_isos(filter="nope,eq,1")
        raise AssertionError("bad filter accepted")
    except VssError as e:
        show("vss.get_isos(filter='nope,eq,1')", f"VssError {e}")
    print("pyvss: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8710")
