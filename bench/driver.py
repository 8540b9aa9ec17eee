#!/usr/bin/env python3
"""The small driver behind bench/load.sh (stdlib only).

  parse-wrk FILE TARGET CASE CONNS ROUND   one TSV line from wrk --latency output
  cold --gateway URL --pid PID --sim NAME=URL ...
                                           cold federated latency, 500 concurrent
                                           cold requests with upstream counts; JSON
  report --wrk TSV --cold JSON ...         the results file (markdown)
"""

import argparse
import http.client
import json
import os
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unknown duration {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(args):
    text = open(args.file).read()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(r"Socket errors:.*", text)
    if not (rps and p50 and p99):
        sys.exit(f"wrk output not understood: {args.file}\n{text}")
    bad = int(errors.group(1)) if errors else 0
    done = re.search(r"(\d+) requests in", text)
    requests = int(done.group(1)) if done else 0
    cpu_us = (
        args.cpu_ticks * 1e6 / args.clk_tck / requests if args.cpu_ticks and requests else 0.0
    )
    print(
        "\t".join(
            [
                args.target,
                args.case,
                args.conns,
                args.round,
                f"{float(rps.group(1)):.0f}",
                f"{to_ms(p50.group(1)):.3f}",
                f"{to_ms(p99.group(1)):.3f}",
                str(bad),
                (sock.group(0) if sock else "").replace("\t", " "),
                f"{cpu_us:.2f}",
            ]
        )
    )


# --- HTTP helpers ---------------------------------------------------------


def request(method, url, body=None, headers=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def timed_get(url, headers):
    started = time.perf_counter()
    status, body = request("GET", url, headers=headers)
    return (time.perf_counter() - started) * 1000.0, status, body


def set_latency(sims, ms):
    for url in sims.values():
        request("PUT", f"{url}/__sim/faults", {"latency_ms": ms})


def counters(sims):
    """Upstream requests per provider, control routes excluded."""
    out = {}
    for name, url in sims.items():
        _, body = request("GET", f"{url}/__sim/counters")
        routes = body.get("routes", {}) if isinstance(body, dict) else {}
        out[name] = sum(v for k, v in routes.items() if "/__sim" not in k)
    return out


def reset_counters(sims):
    for url in sims.values():
        request("POST", f"{url}/__sim/counters/reset")


def invalidate(gateway, headers):
    status, _ = request("POST", f"{gateway}/v1/cache/invalidate", headers=headers)
    if status != 200:
        raise RuntimeError(f"invalidate answered {status}")


def fetch_seconds(gateway):
    """Per provider, the sum of `isogate_listing_fetch_seconds` so far."""
    with urllib.request.urlopen(f"{gateway}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out = {}
    for m in re.finditer(
        r'^isogate_listing_fetch_seconds_sum\{provider="([^"]+)"\} ([0-9.e+-]+)$', text, re.M
    ):
        out[m.group(1)] = float(m.group(2))
    return out


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1])
    return 0


def concurrent_cold(gateway, headers, n):
    """n connections opened first, then released together on one barrier."""
    parsed = urllib.parse.urlsplit(gateway)
    barrier = threading.Barrier(n + 1)
    results = [None] * n

    def one(i):
        conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
        try:
            conn.connect()
            barrier.wait()
            started = time.perf_counter()
            conn.request("GET", "/v1/isos?per_page=50", headers=headers)
            resp = conn.getresponse()
            resp.read()
            results[i] = (resp.status, (time.perf_counter() - started) * 1000.0)
        except Exception as e:  # noqa: BLE001 - reported, not raised
            results[i] = (repr(e), 0.0)
            try:
                barrier.abort()
            except threading.BrokenBarrierError:
                pass
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait()
    for t in threads:
        t.join()
    return results


def cold(args):
    sims = dict(s.split("=", 1) for s in args.sim)
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    gw = args.gateway
    out = {"latency_ms": args.latency_ms, "runs": args.runs}

    # Upstream round trip at this latency: one small request straight to each
    # simulator's control API is not delayed, so time the gateway's view instead:
    # per provider, a cold listing of that provider alone.
    set_latency(sims, args.latency_ms)
    per_provider = {}
    per_provider_requests = {}
    for name in sims:
        times = []
        for _ in range(args.runs):
            invalidate(gw, headers)
            reset_counters(sims)
            ms, status, body = timed_get(f"{gw}/v1/providers/{name}/isos?per_page=1", headers)
            if status != 200:
                raise RuntimeError(f"{name}: cold listing answered {status}: {body}")
            src = [s for s in body["sources"] if s["provider"] == name][0]
            if status != 200 or src["status"] != "ok" or src.get("from_cache"):
                raise RuntimeError(f"{name}: cold listing not fresh: {src}")
            times.append(ms)
            per_provider_requests[name] = counters(sims)[name]
        per_provider[name] = {"median_ms": statistics.median(times), "min_ms": min(times)}
    out["per_provider"] = per_provider
    out["requests_per_listing"] = per_provider_requests

    fed = []
    overheads = []
    slowest_same_run = []
    for _ in range(args.runs):
        invalidate(gw, headers)
        reset_counters(sims)
        before = fetch_seconds(gw)
        ms, status, body = timed_get(f"{gw}/v1/isos?per_page=50", headers)
        # Each provider's fetch (upstream round trips + decoding) during this
        # very listing; what the answer took beyond the slowest is federation.
        after = fetch_seconds(gw)
        fetches = {n: (after.get(n, 0.0) - before.get(n, 0.0)) * 1000.0 for n in sims}
        slowest_same_run.append(max(fetches.values()))
        overheads.append(ms - max(fetches.values()))
        if status != 200:
            raise RuntimeError(f"federated cold listing answered {status}: {body}")
        bad = [s for s in body["sources"] if s["status"] != "ok" or s.get("from_cache")]
        if status != 200 or bad:
            raise RuntimeError(f"federated cold listing not fresh: {bad}")
        fed.append(ms)
        out["federated_requests"] = counters(sims)
    slowest = max(per_provider.items(), key=lambda kv: kv[1]["median_ms"])
    out["federated"] = {
        "median_ms": statistics.median(fed),
        "min_ms": min(fed),
        "all_ms": fed,
        "slowest_provider": slowest[0],
        "slowest_provider_ms": slowest[1]["median_ms"],
        "slowest_fetch_same_run_ms": statistics.median(slowest_same_run),
        "overhead_over_slowest_fetch_ms": statistics.median(overheads),
    }

    # Concurrent cold requests: one upstream listing per provider means the
    # same upstream requests as one cold listing.
    invalidate(gw, headers)
    reset_counters(sims)
    results = concurrent_cold(gw, headers, args.concurrent)
    got = counters(sims)
    ok = [ms for status, ms in results if status == 200]
    failures = [status for status, _ in results if status != 200]
    out["concurrent"] = {
        "requests": args.concurrent,
        "ok": len(ok),
        "failures": sorted({str(f) for f in failures}),
        "p50_ms": statistics.median(ok) if ok else None,
        "max_ms": max(ok) if ok else None,
        "upstream_requests": got,
        "one_listing_requests": per_provider_requests,
        "listings_per_provider": {
            n: got[n] / per_provider_requests[n] if per_provider_requests[n] else None
            for n in sims
        },
    }
    set_latency(sims, 0)
    out["rss_kb_after_cold"] = rss_kb(args.pid)
    json.dump(out, sys.stdout, indent=2)


# --- report -----------------------------------------------------------------


def machine():
    model = "unknown"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    load = open("/proc/loadavg").read().split()[:3]
    return f"{os.cpu_count()} cores ({model}); load average at the end {' '.join(load)}"


def report(args):
    rows = [line.rstrip("\n").split("\t") for line in open(args.wrk) if line.strip()]
    by = {}
    for target, case, conns, _round, rps, p50, p99, bad, _sock, *cpu in rows:
        by.setdefault((case, int(conns), target), []).append(
            (float(rps), float(p50), float(p99), int(bad), float(cpu[0]) if cpu else 0.0)
        )

    def med(key, i):
        return statistics.median(v[i] for v in by[key])

    cold_data = json.load(open(args.cold))
    smoke = args.smoke == "1"
    p = print
    p(f"# isogate load run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if smoke:
        p("\n**Smoke run**: seconds-long runs on small catalogues; the figures only show the harness works.")
    p(f"\nMachine: {machine()}.")
    p(
        f"wrk: 1 thread pinned to the client core, {args.duration} s per run, {args.rounds} "
        "alternating A/B round(s), medians shown; servers pinned to the other core."
    )
    p(
        f"Catalogue: {args.items} items (4 simulators x {args.scale}, VSS {args.vss_scale}); "
        f"page50 = {args.page50_bytes} B, list1000 = {args.list1000_bytes} B."
    )
    p("\n## Cached answers: isogate (full stack) vs nginx (static file of the same bytes)\n")
    p(
        "`hyper` is the same tokio + hyper stack as isogate answering the same bytes "
        "from memory with no middleware (`examples/static_ceiling.rs`): the user-space ceiling.\n"
    )
    p(
        "CPU µs/req is the server process's CPU time (user + system, from /proc) over the "
        "requests it answered: steadier than req/s when neighbours steal the core.\n"
    )
    p(
        "| case | conns | nginx req/s | server | req/s | ratio | nginx p50 / p99 ms | p50 / p99 ms "
        "| p99 ratio | CPU µs/req (nginx) |"
    )
    p("|---|---|---|---|---|---|---|---|---|---|")
    labels = {"isogate": "isogate", "isogate-nolog": "isogate, log at warn", "hyper": "hyper (ceiling)"}
    for case in ("page50", "list1000"):
        for conns in sorted({k[1] for k in by if k[0] == case}):
            for target in ("isogate", "isogate-nolog", "hyper"):
                n, g = (case, conns, "nginx"), (case, conns, target)
                if n not in by or g not in by:
                    continue
                ratio = med(g, 0) / med(n, 0)
                p99r = med(g, 2) / med(n, 2)
                p(
                    f"| {case} | {conns} | {med(n, 0):.0f} | {labels[target]} | {med(g, 0):.0f} | **{ratio:.2f}x** | "
                    f"{med(n, 1):.2f} / {med(n, 2):.2f} | {med(g, 1):.2f} / {med(g, 2):.2f} | {p99r:.2f}x "
                    f"| {med(g, 4):.1f} ({med(n, 4):.1f}) |"
                )
    bad = sum(v[3] for vs in by.values() for v in vs)
    if bad:
        p(f"\nNon-2xx answers during the runs: {bad}.")
    if cold_data.get("skipped"):
        p(f"\nScenarios skipped (SKIP_SCENARIOS). isogate wrote {args.log_lines} log lines.")
        return
    p("\n## Uncached filter + sort + page (a new query every request)\n")
    p("| conns | req/s | p50 ms | p99 ms |")
    p("|---|---|---|---|")
    for conns in sorted({k[1] for k in by if k[0] == "uncached"}):
        k = ("uncached", conns, "isogate")
        p(f"| {conns} | {med(k, 0):.0f} | **{med(k, 1):.2f}** | {med(k, 2):.2f} |")
    c = cold_data
    f = c["federated"]
    p(f"\n## Cold listings, every simulator at {c['latency_ms']} ms per request\n")
    p("| listing | median ms | min ms | upstream requests |")
    p("|---|---|---|---|")
    for name, v in sorted(c["per_provider"].items()):
        p(f"| {name} alone | {v['median_ms']:.1f} | {v['min_ms']:.1f} | {c['requests_per_listing'][name]} |")
    p(
        f"| **federated (all)** | **{f['median_ms']:.1f}** | {f['min_ms']:.1f} | "
        f"{sum(c['federated_requests'].values())} |"
    )
    p(
        f"\nFederated minus the slowest provider listed alone ({f['slowest_provider']}): "
        f"{f['median_ms'] - f['slowest_provider_ms']:+.1f} ms (median of {c['runs']} runs each)."
    )
    p(
        f"Federated minus the slowest provider's fetch in the same listing "
        f"({f['slowest_fetch_same_run_ms']:.1f} ms, from isogate_listing_fetch_seconds): "
        f"**{f['overhead_over_slowest_fetch_ms']:+.1f} ms**."
    )
    cc = c["concurrent"]
    p(f"\n## {cc['requests']} concurrent cold requests\n")
    p(
        f"{cc['ok']} answered 200 (p50 {cc['p50_ms']:.0f} ms, max {cc['max_ms']:.0f} ms)"
        if cc["ok"]
        else "none answered 200"
    )
    if cc["failures"]:
        p(f"; failures: {', '.join(cc['failures'])}")
    p("\n| provider | upstream requests | one listing is | listings |")
    p("|---|---|---|---|")
    for name in sorted(cc["upstream_requests"]):
        lp = cc["listings_per_provider"][name]
        p(
            f"| {name} | {cc['upstream_requests'][name]} | {cc['one_listing_requests'][name]} | "
            f"**{lp if lp is None else f'{lp:g}'}** |"
        )
    mib = lambda kb: int(kb) / 1024  # noqa: E731
    p("\n## Memory (VmRSS of the isogate process)\n")
    p(f"- at start, nothing cached: {mib(args.rss_idle):.0f} MiB")
    p(f"- right after the cold load of {args.items} items: {mib(args.rss_cached):.0f} MiB")
    p(
        f"- the same {args.items} items cached, after 4 s of warm-up traffic: "
        f"**{mib(args.rss_settled):.0f} MiB ({int(args.rss_settled) * 1024 / 1e6:.0f} MB)**"
    )
    p(f"- after all runs: {mib(args.rss_end):.0f} MiB")
    p(f"\nisogate wrote {args.log_lines} log lines (one per request, tracing at info).")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("parse-wrk")
    for a in ("file", "target", "case", "conns", "round"):
        w.add_argument(a)
    w.add_argument("--cpu-ticks", type=int, default=0)
    w.add_argument("--clk-tck", type=int, default=100)
    c = sub.add_parser("cold")
    c.add_argument("--gateway", required=True)
    c.add_argument("--pid", type=int, required=True)
    c.add_argument("--sim", action="append", required=True)
    c.add_argument("--runs", type=int, default=5)
    c.add_argument("--concurrent", type=int, default=500)
    c.add_argument("--latency-ms", type=int, default=50)
    c.add_argument("--api-key")
    r = sub.add_parser("report")
    for a in (
        "wrk", "cold", "items", "rss-idle", "rss-cached", "rss-settled", "rss-end", "page50-bytes",
        "list1000-bytes", "duration", "rounds", "scale", "vss-scale", "smoke", "log-lines",
    ):
        r.add_argument(f"--{a}", required=True)
    args = ap.parse_args()
    {"parse-wrk": parse_wrk, "cold": cold, "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
