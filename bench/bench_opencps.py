"""Pull N dossiers from a local fake OpenCPS; compare the adapter with a bare requests loop.

Both fetch the same URLs in the same run (list pages, each dossier's detail and sequences, the
process steps once) and decode every body as JSON. Prints throughput, the ratio and peak memory
(tracemalloc, Python allocations) of the adapter pull. Usage:

    python bench/bench_opencps.py [--dossiers 20000] [--page-size 500]
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from datetime import date
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from isobridge.adapters.opencps import OpenCPSOptions, OpenCPSSource  # noqa: E402
from isobridge.core.adapters import AdapterContext  # noqa: E402
from isobridge.core.privacy import Pseudonymizer  # noqa: E402
from tests.fakes.opencps import FakeOpenCPS, make_dossiers  # noqa: E402

FIRST, TODAY = date(2024, 1, 1), date(2025, 12, 31)


def adapter_pull(fake: FakeOpenCPS, base: str, page_size: int, do_map: bool) -> tuple[int, float]:
    options = OpenCPSOptions.model_validate({
        "adapter": "opencps", "base_url": base, "username": fake.username, "password": fake.password,
        "group_id": fake.group_id, "since": FIRST.isoformat(), "page_size": page_size, "page_overlap": 0,
        "http": {"rate_limit": 0}})
    source = OpenCPSSource(options, AdapterContext("bench", Pseudonymizer("bench-key")), today=lambda: TODAY)
    count, started = 0, time.perf_counter()
    for page in source.pages(None):
        for record in page.records:
            count += 1
            if do_map:
                source.map(record)
    elapsed = time.perf_counter() - started
    source.close()
    return count, elapsed


def bare_pull(fake: FakeOpenCPS, base: str, page_size: int) -> tuple[int, float]:
    session = requests.Session()
    session.auth = (fake.username, fake.password)
    session.headers.update({"groupId": str(fake.group_id), "Accept": "application/json"})
    params = {"top": "statistic", "fromStatisticDate": FIRST.strftime("%d/%m/%Y"),
              "toStatisticDate": TODAY.strftime("%d/%m/%Y"), "order": "false"}
    count, start, started = 0, 0, time.perf_counter()
    session.get(f"{base}/serviceprocesses/3301/steps", params={"start": 0, "end": 0}).json()
    while True:
        body = session.get(f"{base}/dossiers", params={**params, "start": start, "end": start + page_size}).json()
        for item in body["data"]:
            session.get(f"{base}/dossiers/{item['dossierId']}").json()
            session.get(f"{base}/dossiers/{item['dossierId']}/sequences").json()
            count += 1
        start += page_size
        if not body["data"] or start >= body["total"]:
            return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossiers", type=int, default=20000)
    parser.add_argument("--page-size", type=int, default=500)
    args = parser.parse_args()
    fake = FakeOpenCPS(make_dossiers(args.dossiers, FIRST))
    server, base = fake.serve()
    bare_pull(fake, base, args.page_size)  # warm up both paths on a first pass
    rows = []
    bare_n, bare_s = bare_pull(fake, base, args.page_size)
    tracemalloc.start()
    ad_n, ad_s = adapter_pull(fake, base, args.page_size, do_map=False)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    ad2_n, ad2_s = adapter_pull(fake, base, args.page_size, do_map=False)
    map_n, map_s = adapter_pull(fake, base, args.page_size, do_map=True)
    server.shutdown()
    rows.append(("bare requests loop", bare_n, bare_s))
    rows.append(("opencps adapter pages()", ad2_n, ad2_s))
    rows.append(("opencps adapter pages() + map()", map_n, map_s))
    print("| run | dossiers | seconds | dossiers/s | vs bare |")
    print("|---|---:|---:|---:|---:|")
    for label, n, seconds in rows:
        print(f"| {label} | {n} | {seconds:.1f} | {n / seconds:.0f} | {bare_s / seconds * 100:.0f} % |")
    print(f"\npeak Python memory of an adapter pull (tracemalloc): {peak / 1e6:.1f} MB "
          f"(that traced run took {ad_s:.1f} s)")


if __name__ == "__main__":
    main()
