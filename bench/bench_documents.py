"""Benchmark of the document sources: edxml and csv adapters against bare lxml / csv.reader.

Builds (once) under bench/out/ a folder of edXML packets (document packets with base64
attachments and small status packets) of about `--edxml-mb` MB and a CSV export of
`--csv-rows` rows, then measures, each in its own process so that peak memory is its own:

* bare `lxml.etree.iterparse` over every packet (clearing elements) and the edxml adapter
  (pages + map);
* bare `csv.reader` over the CSV and the csv adapter (pages + map), and its pages alone (reading,
  decoding and one `RawRecord` per row, no mapping: the floor the contract sets);
* the adapters again on a tenth of the data, to show whether peak memory grows with size.

Each measurement runs `--repeat` times (default 3); the table shows the median time and the
largest peak memory (the machine is shared, single runs are noisy).

Usage: python bench/bench_documents.py [--edxml-mb 500] [--csv-rows 1000000] [--repeat 3]
                                      [--only edxml|csv]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
CSV_HEADER = ("Mã hồ sơ,Mã TTHC,Cơ quan tiếp nhận,Kênh nộp,Ngày tiếp nhận,Ngày hẹn trả,Trạng thái,Số CCCD,"
              "Thời điểm,Thao tác,Bước,Bên giao,Bên nhận,Người xử lý,Lý do")
ACTIONS = [("Tiếp nhận", "TN", "", "Bộ phận Một cửa"), ("Chuyển xử lý", "TD", "Bộ phận Một cửa", "Phòng Kinh tế"),
           ("Chuyển bước", "PD", "Phòng Kinh tế", "Lãnh đạo UBND xã"), ("Trả kết quả", "", "", "")]

DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXML xmlns:edXML="{ns}"><edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:MessageHeader>
<edXML:From><edXML:OrganId>000.00.31.H37</edXML:OrganId><edXML:OrganName>UBND xã Hòa Phú</edXML:OrganName></edXML:From>
<edXML:To><edXML:OrganId>000.00.12.H37</edXML:OrganId><edXML:OrganName>Chi cục Thuế khu vực Hòa Vang</edXML:OrganName></edXML:To>
<edXML:Code><edXML:CodeNumber>{n}</edXML:CodeNumber><edXML:CodeNotation>UBND-VP</edXML:CodeNotation></edXML:Code>
<edXML:PromulgationInfo><edXML:Place>Hòa Phú</edXML:Place><edXML:PromulgationDate>2025/07/01</edXML:PromulgationDate></edXML:PromulgationInfo>
<edXML:Subject>V/v xác định nghĩa vụ tài chính, hồ sơ {dossier}</edXML:Subject>
<edXML:DocumentId>000.00.31.H37,2025/07/01,{n}/UBND-VP</edXML:DocumentId></edXML:MessageHeader>
<edXML:TraceHeaderList><edXML:TraceHeader><edXML:OrganId>000.00.31.H37</edXML:OrganId>
<edXML:Timestamp>2025/07/01 {hh:02d}:{mm:02d}:00</edXML:Timestamp></edXML:TraceHeader>
<edXML:Bussiness><edXML:BussinessDocType>0</edXML:BussinessDocType><edXML:StaffInfo><edXML:Staff>Trần Thị Bích</edXML:Staff></edXML:StaffInfo></edXML:Bussiness>
</edXML:TraceHeaderList></edXML:edXMLHeader><edXML:edXMLBody><edXML:edXMLManifest><edXML:Reference>
<edXML:ContentId>cid:1</edXML:ContentId><edXML:AttachmentName>ho-so.pdf</edXML:AttachmentName></edXML:Reference>
</edXML:edXMLManifest></edXML:edXMLBody></edXML:edXMLEnvelope>
<edXML:AttachmentEncoded><edXML:Attachment><edXML:ContentId>cid:1</edXML:ContentId><edXML:Value>{blob}</edXML:Value></edXML:Attachment></edXML:AttachmentEncoded></edXML:edXML>
"""

STATUS = """<?xml version="1.0" encoding="UTF-8"?>
<edXML:edXML xmlns:edXML="{ns}"><edXML:edXMLEnvelope><edXML:edXMLHeader><edXML:Status>
<edXML:ResponseFor><edXML:OrganId>000.00.31.H37</edXML:OrganId><edXML:Code>{n}/UBND-VP</edXML:Code>
<edXML:DocumentId>000.00.31.H37,2025/07/01,{n}/UBND-VP</edXML:DocumentId></edXML:ResponseFor>
<edXML:From><edXML:OrganId>000.00.12.H37</edXML:OrganId></edXML:From>
<edXML:StaffInfo><edXML:Staff>Phạm Quốc Việt</edXML:Staff></edXML:StaffInfo>
<edXML:StatusCode>06</edXML:StatusCode><edXML:Description>Đã xử lý xong hồ sơ {dossier}</edXML:Description>
<edXML:Timestamp>2025/07/03 {hh:02d}:{mm:02d}:00</edXML:Timestamp></edXML:Status></edXML:edXMLHeader></edXML:edXMLEnvelope></edXML:edXML>
"""


def build_edxml(folder: Path, megabytes: int) -> None:
    """Packets until the folder holds `megabytes` MB: pairs of a document (20–600 KB) and a status."""
    marker = folder / ".done"
    if marker.exists() and marker.read_text() == str(megabytes):
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(7)
    pool = base64.b64encode(rng.randbytes(1_000_000)).decode()
    total, n = 0, 0
    while total < megabytes * 1_000_000:
        n += 1
        fields = dict(ns=NS, n=n, dossier=f"000.00.31.H37-250701-{n:06d}", hh=8 + n % 9, mm=n % 60)
        size = rng.randint(20_000, 600_000)
        start = rng.randint(0, len(pool) - size)
        blob = "\n".join(pool[i:i + 76] for i in range(start, start + size, 76))
        sub = folder / f"{n // 1000:04d}"
        sub.mkdir(exist_ok=True)
        for name, text in ((f"vb-{n:06d}.xml", DOCUMENT.format(blob=blob, **fields)),
                           (f"tt-{n:06d}.xml", STATUS.format(**fields))):
            data = text.encode("utf-8")
            (sub / name).write_bytes(data)
            total += len(data)
    marker.write_text(str(megabytes))


def build_csv(path: Path, rows: int) -> None:
    """A UTF-8 export of `rows` event rows over rows/4 dossiers."""
    if path.exists() and path.with_suffix(".done").exists() and path.with_suffix(".done").read_text() == str(rows):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(CSV_HEADER + "\r\n")
        for i in range(rows):
            d, (action, step, giver, taker) = i // 4, ACTIONS[i % 4]
            day, hour = 1 + d % 28, 8 + i % 4 * 2
            out.write(f"000.00.31.H37-2507{day:02d}-{d:07d},1.001612,UBND xã Hòa Phú,Trực tuyến,"
                      f"{day:02d}/07/2025 08:00:00,{day:02d}/07/2025 17:00:00,Đang xử lý,0480850{d % 100000:05d},"
                      f"{day:02d}/07/2025 {hour:02d}:15:00,{action},{step},{giver},{taker},Trần Thị Bích,\r\n")
    path.with_suffix(".done").write_text(str(rows))


def _context():
    from isobridge.core.adapters import AdapterContext
    from isobridge.core.privacy import Pseudonymizer
    return AdapterContext("bench", Pseudonymizer("bench-key"))


def _drive(source) -> tuple[int, int]:
    records = fragments = 0
    for page in source.pages(None):
        for record in page.records:
            records += 1
            fragments += len(source.map(record))
    return records, fragments


def measure(name: str, target: str, pattern: str | None) -> dict:
    """Run one measurement in this process (`pattern`: which packets of the folder)."""
    import csv

    from lxml import etree

    from isobridge.adapters.csv import CsvOptions, CsvSource
    from isobridge.adapters.edxml import EdxmlOptions, EdxmlSource
    if name == "edxml-adapter":
        source = EdxmlSource(EdxmlOptions(adapter="edxml", folder=Path(target), pattern=pattern or "**/*.xml"),
                             _context())
    elif name in ("csv-adapter", "csv-pages"):
        source = CsvSource(CsvOptions(adapter="csv", folder=Path(target).parent, pattern=Path(target).name,
                                      settle_seconds=0), _context())
    pattern = pattern or "**/*.xml"
    files = sorted(Path(target).glob(pattern)) if "edxml" in name else []
    started, cpu_started = time.perf_counter(), time.process_time()
    if name == "edxml-bare":
        records = 0
        for path in files:
            for _event, element in etree.iterparse(str(path), resolve_entities=False, no_network=True):
                element.clear()
            records += 1
        extra = {}
    elif name == "edxml-adapter":
        records, fragments = _drive(source)
        extra = {"fragments": fragments}
    elif name == "csv-pages":
        records = sum(len(page.records) for page in source.pages(None))
        extra = {}
    elif name == "csv-bare":
        with open(target, encoding="utf-8", newline="") as handle:
            records = sum(1 for _ in csv.reader(handle)) - 1
        extra = {}
    else:
        records, fragments = _drive(source)
        extra = {"fragments": fragments}
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    size = sum(f.stat().st_size for f in files) if files else Path(target).stat().st_size
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return {"name": name, "records": records, "seconds": round(seconds, 2), "cpu": round(cpu, 2),
            "mb": round(size / 1e6, 1), "mb_s": round(size / 1e6 / seconds, 1), "records_s": round(records / seconds),
            "peak_rss_mb": peak, **extra}


def run(name: str, target: Path, pattern: str | None = None, repeat: int = 3) -> dict:
    """`measure` in fresh interpreters (so ru_maxrss is each one's own peak): the median run,
    with the largest peak memory of all runs."""
    args = [sys.executable, __file__, "--measure", name, "--target", str(target)]
    if pattern:
        args += ["--pattern", pattern]
    results = []
    for _ in range(repeat):
        output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    results.sort(key=lambda r: r["seconds"])
    median = results[len(results) // 2]
    return {**median, "peak_rss_mb": max(r["peak_rss_mb"] for r in results), "cpu": min(r["cpu"] for r in results),
            "spread": f"{results[0]['seconds']}–{results[-1]['seconds']}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edxml-mb", type=int, default=500)
    parser.add_argument("--csv-rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", choices=("edxml", "csv"), help="measure one kind of source only")
    parser.add_argument("--measure")
    parser.add_argument("--target")
    parser.add_argument("--pattern")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.target, args.pattern)))
        return
    edxml, small_csv, big_csv = OUT / "edxml", OUT / "csv-small" / "export.csv", OUT / "csv" / "export.csv"
    kinds = (args.only,) if args.only else ("edxml", "csv")
    started = time.perf_counter()
    if "edxml" in kinds:
        build_edxml(edxml, args.edxml_mb)
    if "csv" in kinds:
        build_csv(big_csv, args.csv_rows)
        build_csv(small_csv, args.csv_rows // 10)
    print(f"built inputs in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    n, results, load = args.repeat, [], os.getloadavg()
    if "edxml" in kinds:
        results += [run("edxml-bare", edxml, None, n), run("edxml-adapter", edxml, None, n),
                    run("edxml-bare", edxml, "0001/*.xml", n), run("edxml-adapter", edxml, "0001/*.xml", n)]
    if "csv" in kinds:
        results += [run("csv-bare", big_csv, None, n), run("csv-adapter", big_csv, None, n),
                    run("csv-adapter", small_csv, None, n), run("csv-pages", big_csv, None, n)]
    print(f"load average before: {load}, after: {os.getloadavg()}")
    print("| run | input MB | records | seconds (median) | min–max | CPU s (min) | MB/s | records/s "
          "| peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['name']} | {r['mb']} | {r['records']} | {r['seconds']} | {r['spread']} | {r['cpu']} | "
              f"{r['mb_s']} | {r['records_s']} | {r['peak_rss_mb']} |")
    for kind in kinds:
        bare = next(r for r in results if r["name"] == f"{kind}-bare")
        full = next(r for r in results if r["name"] == f"{kind}-adapter")
        print(f"{kind}: adapter takes {full['seconds'] / bare['seconds']:.2f}x the bare parser's time "
              f"(CPU: {full['cpu'] / bare['cpu']:.2f}x)")
        pages = next((r for r in results if r["name"] == f"{kind}-pages"), None)
        if pages:
            print(f"{kind}: its pages alone (no map) take {pages['seconds'] / bare['seconds']:.2f}x "
                  f"(CPU: {pages['cpu'] / bare['cpu']:.2f}x)")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
