#!/usr/bin/env python3
"""Helpers for hack/bench-render (standard library only).

  gen DIR             write the benchmark application under DIR (see below)
  time N CMD...       run CMD N times (after one warm-up run), print the median wall time in
                      seconds; CMD runs through `bash -c`, output discarded
  check OURS THEIRS   compare two rendered YAML streams: the same resources (kind, namespace,
                      name), the same images per object, every image pinned by digest
  sha256 FILE         the file's sha256 digest, `sha256:<hex>`

The application (DIR/app): SERVICES services of 5 resources each (Deployment, Service, ConfigMap,
ServiceAccount, CronJob) = 1,000 resources in PARTS uri manifest files; IMAGES image components,
pinned from DIR/snapshot.yaml; five environments (config/<env>.yaml) that set the namespace.
The same manifest files are the kustomize base (DIR/app/kustomization.yaml) and each
environment is an overlay (DIR/overlays/<env>) with `namespace:` and `images:` entries that
pin every image to the snapshot's digest, so both tools produce the same objects.
"""

import hashlib
import os
import statistics
import subprocess
import sys
import time

SERVICES = 200
PARTS = 20
IMAGES = 50
ENVS = ["dev", "test", "stage", "prod", "perf"]


def digest_of(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def service(i):
    name = f"svc-{i:03d}"
    image = f"quay.io/team/app-{i % IMAGES:02d}:latest"
    # `namespace` is a devfile variable for us; kustomize's namespace transformer overwrites the
    # same field, so one file serves both tools.
    meta = f'  name: {name}\n  namespace: "{{{{ namespace }}}}"\n  labels:\n    app: {name}\n'
    return [
        f"""apiVersion: apps/v1
kind: Deployment
metadata:
{meta}spec:
  replicas: 2
  selector:
    matchLabels:
      app: {name}
  template:
    metadata:
      labels:
        app: {name}
    spec:
      serviceAccountName: {name}
      initContainers:
        - name: migrate
          image: {image}
          args: ["migrate", "--to", "latest"]
      containers:
        - name: app
          image: {image}
          ports:
            - containerPort: 8080
          env:
            - name: LOG_LEVEL
              value: info
            - name: SERVICE
              value: {name}
          resources:
            requests: {{cpu: 50m, memory: 64Mi}}
            limits: {{memory: 256Mi}}
          readinessProbe:
            httpGet: {{path: /ready, port: 8080}}
""",
        f"""apiVersion: v1
kind: Service
metadata:
{meta}spec:
  selector:
    app: {name}
  ports:
    - name: http
      port: 80
      targetPort: 8080
""",
        f"""apiVersion: v1
kind: ConfigMap
metadata:
{meta}data:
  application.yaml: |
    server:
      port: 8080
    feature-flags:
      new-checkout: true
  LOG_FORMAT: json
""",
        f"""apiVersion: v1
kind: ServiceAccount
metadata:
{meta}""",
        f"""apiVersion: batch/v1
kind: CronJob
metadata:
{meta}spec:
  schedule: "*/30 * * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: cleanup
              image: {image}
              args: ["cleanup"]
""",
    ]


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def gen(root):
    app = os.path.join(root, "app")
    per_part = SERVICES // PARTS
    parts = []
    for p in range(PARTS):
        docs = []
        for i in range(p * per_part, (p + 1) * per_part):
            docs.extend(service(i))
        name = f"manifests/part-{p:02d}.yaml"
        write(os.path.join(app, name), "---\n".join(docs))
        parts.append(name)
    digests = {n: digest_of(f"app-{n:02d}") for n in range(IMAGES)}

    devfile = ["schemaVersion: 2.2.0", "metadata:", "  name: bench", "components:"]
    for n in range(IMAGES):
        devfile += [
            f"  - name: app-{n:02d}",
            "    image:",
            f"      imageName: quay.io/team/app-{n:02d}:latest",
            "      dockerfile:",
            "        uri: Dockerfile",
        ]
    for p, name in enumerate(parts):
        devfile += [f"  - name: part-{p:02d}", "    kubernetes:", f"      uri: {name}"]
    write(os.path.join(app, "devfile.yaml"), "\n".join(devfile) + "\n")

    write(os.path.join(app, "config/base.yaml"), "namespace: bench-base\n")
    for env in ENVS:
        write(os.path.join(app, f"config/{env}.yaml"), f"namespace: bench-{env}\n")

    snapshot = ["apiVersion: appstudio.redhat.com/v1alpha1", "kind: Snapshot", "metadata:", "  name: bench",
                "spec:", "  application: bench", "  components:"]
    for n, d in digests.items():
        snapshot += [f"    - name: app-{n:02d}", f"      containerImage: quay.io/ci/app-{n:02d}@{d}"]
    write(os.path.join(root, "snapshot.yaml"), "\n".join(snapshot) + "\n")

    # kustomize: the same files are the base.
    write(os.path.join(app, "kustomization.yaml"),
          "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n"
          + "".join(f"  - {p}\n" for p in parts))
    for env in ENVS:
        images = "".join(
            f"  - name: quay.io/team/app-{n:02d}\n    newName: quay.io/ci/app-{n:02d}\n    digest: {d}\n"
            for n, d in digests.items())
        # Outside app/: kustomize refuses an overlay inside its base's directory (a cycle).
        write(os.path.join(root, f"overlays/{env}/kustomization.yaml"),
              "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
              f"namespace: bench-{env}\nresources:\n  - ../../app\nimages:\n{images}")


def timed(n, cmd):
    def once():
        start = time.perf_counter()
        r = subprocess.run(["bash", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        took = time.perf_counter() - start
        if r.returncode != 0:
            sys.exit(f"failed ({r.returncode}): {cmd}\n{r.stderr.decode(errors='replace')}")
        return took

    once()  # warm-up: page cache, precompiled task cache
    samples = [once() for _ in range(n)]
    print(f"{statistics.median(samples):.3f} {min(samples):.3f} {max(samples):.3f}")


def docs(path):
    """(kind, namespace, name) and images of a YAML stream, read line by line: both tools
    print block-style YAML with these fields at fixed indents."""
    resources, images = set(), set()
    with open(path) as f:
        text = f.read()
    for doc in text.split("\n---\n"):
        kind = ns = name = None
        in_meta = False
        for line in doc.splitlines():
            if line.startswith("kind: "):
                kind = line[6:].strip()
            elif line == "metadata:":
                in_meta = True
            elif in_meta and line.startswith("  name: "):
                name = line[8:].strip()
            elif in_meta and line.startswith("  namespace: "):
                ns = line[13:].strip()
            elif line and not line.startswith(" "):
                in_meta = False
            s = line.strip()
            if s.startswith("image: ") or s.startswith("- image: "):
                images.add((kind, name, s.split("image: ", 1)[1].strip()))
        if kind:
            resources.add((kind, ns, name))
    return resources, images


def check(ours, theirs):
    (r1, i1), (r2, i2) = docs(ours), docs(theirs)
    if r1 != r2:
        sys.exit(f"resources differ: only ours {sorted(r1 - r2)[:5]}, only theirs {sorted(r2 - r1)[:5]}")
    if i1 != i2:
        sys.exit(f"images differ: only ours {sorted(i1 - i2)[:5]}, only theirs {sorted(i2 - i1)[:5]}")
    unpinned = [i for _, _, i in i1 if "@sha256:" not in i]
    if unpinned:
        sys.exit(f"unpinned images: {unpinned[:5]}")
    print(f"{len(r1)} resources, {len(i1)} (kind, name, image) triples, all pinned, identical sets")


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(sys.argv[2])
    elif cmd == "time":
        timed(int(sys.argv[2]), sys.argv[3])
    elif cmd == "check":
        check(sys.argv[2], sys.argv[3])
    elif cmd == "sha256":
        with open(sys.argv[2], "rb") as f:
            print("sha256:" + hashlib.sha256(f.read()).hexdigest())
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
