"""Benchmark: one large file up to a sandbox org and back through the client (multipart upload, streamed
download into the spool folder), and a batch of small ones (JSON).

Prints MB, seconds, MB/s, API calls, the peak Python heap (tracemalloc) and the process's peak RSS.
Run: ``python benchmarks/file_transfer.py [--mb 200] [--small 100]``. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from isyncsf_desktop.salesforce.client import OrgClient
from isyncsf_desktop.sandbox.server import SandboxServer

MB = 1024 * 1024


def _write(path: Path, size: int) -> str:
    block = os.urandom(MB)
    digest = hashlib.md5()
    with open(path, "wb") as handle:
        for start in range(0, size, MB):
            piece = ((start // MB).to_bytes(8, "big") + block[8:])[:min(MB, size - start)]
            handle.write(piece)
            digest.update(piece)
    return digest.hexdigest()


def _rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (MB if sys.platform == "darwin" else 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=200, help="size of the large file (MB)")
    parser.add_argument("--small", type=int, default=100, help="how many 50 KB files to send")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="isyncsf-bench-"))
    os.environ.setdefault("ISYNCSF_HOME", str(work / "home"))
    large = work / "large.bin"
    md5 = _write(large, args.mb * MB)
    small = work / "small.pdf"
    _write(small, 50 * 1024)
    with SandboxServer(work / "sandbox", {"qa": "empty"}) as server:
        client = OrgClient.connect(server.instance_url, server.token("qa"), ca_file=server.ca_file, alias="qa")
        account = client.create([{"attributes": {"type": "Account"}, "Name": "Bench"}])[0]["id"]
        rss_before = _rss_mb()
        tracemalloc.start()
        t0 = time.perf_counter()
        version = client.upload_content_version({"PathOnClient": "large.bin", "FirstPublishLocationId": account},
                                                large)
        up = time.perf_counter() - t0
        up_peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        with client.spooled_blob("ContentVersion", version) as got:
            down = time.perf_counter() - t0
            same = got.md5 == md5
        down_peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
        calls = client.api_calls
        t0 = time.perf_counter()
        for number in range(args.small):
            client.upload_content_version({"PathOnClient": f"small-{number}.pdf", "FirstPublishLocationId": account},
                                          small)
        batch = time.perf_counter() - t0
        print(f"large file: {args.mb} MB up in {up:.1f} s ({args.mb / up:.0f} MB/s, multipart), down in {down:.1f} s "
              f"({args.mb / down:.0f} MB/s), bytes {'identical' if same else 'DIFFERENT'}")
        print(f"peak Python heap: {up_peak:.1f} MB uploading, {down_peak:.1f} MB downloading; "
              f"peak RSS {rss_before:.0f} MB before, {_rss_mb():.0f} MB after")
        print(f"{args.small} small files (50 KB, JSON): {batch:.1f} s, {client.api_calls - calls} API calls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
