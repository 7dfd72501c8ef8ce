#!/usr/bin/env python3
"""Fills in the ratios of a scripts/bench-http results.csv and prints it as a table,
then the figures the targets are about: issue 9's throughput ratios, and issue 20's
server CPU per request of a valid token against /healthz's and the Python original's. Standard library only.

Usage: scripts/bench/summary.py results.csv
"""
import csv
import sys


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    fields = list(rows[0].keys()) if rows else []
    healthz = {(r["server"], r["tokens"]): float(r["rps"]) for r in rows if r["scenario"] == "healthz"}
    for r in rows:
        base = healthz.get((r["server"], r["tokens"]))
        r["ratio_to_healthz"] = f"{float(r['rps']) / base:.3f}" if base else ""
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)

    header = ("server", "tokens", "scenario", "req/s", "p50 ms", "p99 ms", "vs healthz", "CPU µs/req", "non-2xx", "errors", "RSS MiB")
    table = []
    for r in rows:
        rss = f"{int(r['rss_kib']) / 1024:.1f}" if r["rss_kib"] else ""
        table.append((r["server"], r["tokens"], r["scenario"], f"{float(r['rps']):,.0f}", r["p50_ms"], r["p99_ms"],
                      r["ratio_to_healthz"], r.get("cpu_us", ""), r["non2xx"], r["errors"], rss))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in table:
        print("| " + " | ".join(str(x).ljust(w) for x, w in zip(line, widths)) + " |")

    def get(server, tokens, scenario, key="rps"):
        for r in rows:
            if r["server"] == server and (tokens is None or r["tokens"] == tokens) and r["scenario"] == scenario:
                return float(r[key]) if r.get(key) else None
        return None

    print()
    # In the order they ran: the default configuration first.
    servers = list(dict.fromkeys(r["server"] for r in rows if r["server"] != "python-original"))
    ref = get("python-original", None, "me_valid")
    ref_cpu = get("python-original", None, "me_valid", "cpu_us")
    for server in servers:
        sizes = sorted({r["tokens"] for r in rows if r["server"] == server}, key=int)
        for tokens in sizes:
            me = get(server, tokens, "me_valid")
            hz = get(server, tokens, "healthz")
            garbage = get(server, tokens, "me_garbage")
            p99 = get(server, tokens, "me_valid", "p99_ms")
            p99_storm = get(server, tokens, "me_under_logins", "p99_ms")
            print(f"{server} at {tokens} tokens:")
            if me and hz:
                print(f"  /auth/me valid / /healthz          {me / hz:.3f}  (target >= 0.90)")
            me_cpu, hz_cpu = get(server, tokens, "me_valid", "cpu_us"), get(server, tokens, "healthz", "cpu_us")
            if me_cpu and hz_cpu:
                print(f"  ...by server CPU per request       {hz_cpu / me_cpu:.3f}  ({hz_cpu:.1f} vs {me_cpu:.1f} µs)")
                print(f"  CPU/request valid / /healthz       {me_cpu / hz_cpu:.2f}  (target <= 2)")
            if me_cpu and ref_cpu:
                print(f"  CPU/request Python original / valid {ref_cpu / me_cpu:.1f}x (target >= 80x; {ref_cpu:.1f} µs)")
            if me and ref:
                print(f"  /auth/me valid / Python original   {me / ref:.1f}x (target >= 100x)")
            if me and garbage:
                print(f"  garbage / valid throughput          {garbage / me:.2f}  (target >= 1)")
            if p99 and p99_storm:
                print(f"  p99 under logins / p99 alone        {p99_storm / p99:.2f}  (target <= 2, issue 20)")
        if len(sizes) > 1:
            small, large = sizes[0], sizes[-1]
            a, b = get(server, small, "me_valid"), get(server, large, "me_valid")
            if a and b:
                print(f"{server}: /auth/me at {large} / at {small} tokens: {b / a:.3f} (target >= 0.90)")
    if ref:
        print(f"python-original /api/me/ / /api/public/: {ref / get('python-original', None, 'healthz'):.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
