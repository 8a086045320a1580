#!/usr/bin/env python3
"""Helpers for hack/bench-promote (standard library only).

  gen ADDR OUT        push the benchmark images to the registry at ADDR (plain HTTP) and write
                      OUT/retag.txt and OUT/copy.txt ("repository@digest" per line, repository
                      without the registry host)
  proxy LISTEN TARGET COUNTS
                      a counting TCP forwarder: LISTEN (a port on 127.0.0.1, 0: any; the port is
                      written to COUNTS.port) -> TARGET (host:port).
                      It only counts: bytes go through unchanged. Client->registry bytes are
                      counted in total and, by reading the HTTP/1.1 framing, the request bodies
                      sent to blob upload URLs (/blobs/uploads/). On SIGTERM it writes
                      "TOTAL BLOB_BODY" to COUNTS and exits.
"""

import asyncio
import concurrent.futures
import hashlib
import http.client
import json
import os
import signal
import sys
import threading

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
MIB = 1 << 20

RETAG_IMAGES = 100
RETAG_LAYER = 64 * 1024
COPY_IMAGES = 20
PLATFORMS = ["amd64", "arm64", "ppc64le", "s390x"]
LAYERS_PER_PLATFORM = 5

# ------------------------------------------------------------------------------------ generator

_local = threading.local()


def _conn(addr):
    if getattr(_local, "conn", None) is None:
        _local.conn = http.client.HTTPConnection(addr, timeout=60)
    return _local.conn


def _request(addr, method, path, body=None, headers=None):
    conn = _conn(addr)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status >= 300:
        raise RuntimeError(f"{method} {path}: {resp.status} {data[:200]!r}")
    return resp


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_blob(addr, repo, data):
    digest = sha(data)
    loc = _request(addr, "POST", f"/v2/{repo}/blobs/uploads/").getheader("Location")
    if loc.startswith("http"):
        loc = "/" + loc.split("/", 3)[3]
    sep = "&" if "?" in loc else "?"
    _request(addr, "PUT", f"{loc}{sep}digest={digest}", body=data,
             headers={"Content-Type": "application/octet-stream"})
    return {"mediaType": OCI_LAYER, "digest": digest, "size": len(data)}


def put_manifest(addr, repo, media_type, doc, tag=None):
    data = json.dumps(doc, separators=(",", ":")).encode()
    digest = sha(data)
    _request(addr, "PUT", f"/v2/{repo}/manifests/{tag or digest}", body=data,
             headers={"Content-Type": media_type})
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def image(addr, repo, arch, layers, seed):
    config = json.dumps({
        "architecture": arch, "os": "linux", "created": "2024-05-01T12:34:56Z",
        "config": {"Labels": {"seed": seed}}, "rootfs": {"type": "layers", "diff_ids": []},
    }).encode()
    cfg = put_blob(addr, repo, config)
    cfg["mediaType"] = OCI_CONFIG
    descs = [put_blob(addr, repo, os.urandom(size)) for size in layers]
    return put_manifest(addr, repo, OCI_MANIFEST, {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cfg, "layers": descs})


def retag_image(addr, i):
    repo = f"bench/retag/app-{i:03d}"
    m = image(addr, repo, "amd64", [RETAG_LAYER], f"retag-{i}")
    return f"{repo}@{m['digest']}"


def copy_image(addr, i):
    repo = f"bench/src/app-{i:02d}"
    manifests = []
    for arch in PLATFORMS:
        m = image(addr, repo, arch, [MIB] * LAYERS_PER_PLATFORM, f"copy-{i}-{arch}")
        m["platform"] = {"architecture": arch, "os": "linux"}
        manifests.append(m)
    idx = put_manifest(addr, repo, OCI_INDEX,
                       {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests},
                       tag="v1")
    return f"{repo}@{idx['digest']}"


def gen(addr, out):
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        retag = list(pool.map(lambda i: retag_image(addr, i), range(RETAG_IMAGES)))
        copy = list(pool.map(lambda i: copy_image(addr, i), range(COPY_IMAGES)))
    with open(os.path.join(out, "retag.txt"), "w") as f:
        f.write("\n".join(retag) + "\n")
    with open(os.path.join(out, "copy.txt"), "w") as f:
        f.write("\n".join(copy) + "\n")


# ---------------------------------------------------------------------------- counting proxy

class Counts:
    total = 0
    blob_body = 0


async def _pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _requests(reader, writer, counts):
    """Client->registry: forward HTTP/1.1 requests one by one, counting their bytes."""

    async def fwd(data, blob):
        counts.total += len(data)
        if blob:
            counts.blob_body += len(data)
        writer.write(data)
        await writer.drain()

    try:
        # Clients that try TLS first (skopeo) send a handshake, not HTTP: pass it through, so
        # the registry refuses it at once and the client falls back to plain HTTP.
        first = await reader.readexactly(1)
        if first == b"\x16":
            await fwd(first, False)
            while data := await reader.read(65536):
                await fwd(data, False)
            return
        prefix = first
        while True:
            head = prefix + await reader.readuntil(b"\r\n\r\n")
            prefix = b""
            await fwd(head, False)
            lines = head.decode("latin-1").split("\r\n")
            blob = "/blobs/uploads/" in lines[0].split(" ")[1]
            fields = {k.strip().lower(): v.strip() for k, _, v in
                      (line.partition(":") for line in lines[1:] if line)}
            if "chunked" in fields.get("transfer-encoding", "").lower():
                while True:
                    size_line = await reader.readuntil(b"\r\n")
                    await fwd(size_line, False)
                    size = int(size_line.split(b";")[0], 16)
                    if size == 0:
                        # Trailers (normally none), then the empty line.
                        while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                            await fwd(line, False)
                        await fwd(line, False)
                        break
                    await fwd(await reader.readexactly(size), blob)
                    await fwd(await reader.readexactly(2), False)
            else:
                left = int(fields.get("content-length", "0"))
                while left:
                    data = await reader.read(min(left, 65536))
                    if not data:
                        return
                    left -= len(data)
                    await fwd(data, blob)
    except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def proxy(listen, target, counts_file):
    counts = Counts()
    host, _, port = target.rpartition(":")

    async def handle(creader, cwriter):
        try:
            rreader, rwriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(_requests(creader, rwriter, counts), _pipe(rreader, cwriter))

    server = await asyncio.start_server(handle, "127.0.0.1", int(listen), limit=1 << 20)
    with open(counts_file + ".port", "w") as f:
        f.write(f"{server.sockets[0].getsockname()[1]}\n")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    with open(counts_file, "w") as f:
        f.write(f"{counts.total} {counts.blob_body}\n")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(*args)
    elif cmd == "proxy":
        asyncio.run(proxy(*args))
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()
