#!/usr/bin/env python3
"""The client conformance scenarios, driven through the official Python client.

Usage: conformance.py KUBECONFIG

Runs the scenarios in order against the cluster the kubeconfig names (a fresh
`megamon sim`) and prints one JSON line per scenario:
    {"scenario": "list", "observed": ...}
or, when the client raised:
    {"scenario": "list", "error": "..."}
The Rust test (tests/client_conformance.rs) compares each observation with what
every client must see. Exits 1 if any scenario raised, 2 if the client is missing.
"""

import json
import sys
import traceback

try:
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException
except ImportError as e:  # scripts/test installs it
    print(
        f"conformance.py: the Python Kubernetes client is missing ({e}); "
        "install it with: python3 -m pip install 'kubernetes<37' 'python-dateutil<3'",
        file=sys.stderr,
    )
    sys.exit(2)


def node(name, pool, unschedulable=False):
    body = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"pool": pool}},
        "spec": {},
    }
    if unschedulable:
        body["spec"]["unschedulable"] = True
    return body


def names(node_list):
    return sorted(n.metadata.name for n in node_list.items)


def list_rv(v1):
    return v1.list_node().metadata.resource_version


def watch_events(v1, **kwargs):
    """Every event of a watch that ends by its timeoutSeconds."""
    seen = []
    for event in watch.Watch().stream(v1.list_node, timeout_seconds=1, **kwargs):
        seen.append(event)
    return seen


def compact(api_client):
    api_client.call_api(
        "/_sim/compact",
        "POST",
        body={},
        header_params={"Content-Type": "application/json"},
        _preload_content=False,
    )


def scenarios(v1, api_client):
    state = {}

    def create():
        created = [
            v1.create_node(node("n1", "a")),
            v1.create_node(node("n2", "b")),
            v1.create_node(node("n3", "a", unschedulable=True)),
        ]
        return sorted(n.metadata.name for n in created)

    def get():
        n1 = v1.read_node("n1")
        return {"name": n1.metadata.name, "labels": n1.metadata.labels}

    def list_all():
        return names(v1.list_node())

    def patch_status():
        v1.patch_node_status(
            "n1", {"status": {"conditions": [{"type": "Ready", "status": "True"}]}}
        )
        n1 = v1.read_node("n1")
        return {"ready": n1.status.conditions[0].status, "labels": n1.metadata.labels}

    def label_selector():
        return {
            "pool=a": names(v1.list_node(label_selector="pool=a")),
            "pool!=a": names(v1.list_node(label_selector="pool!=a")),
        }

    def field_selector():
        return {
            "spec.unschedulable=true": names(
                v1.list_node(field_selector="spec.unschedulable=true")
            ),
            "metadata.name=n2": names(v1.list_node(field_selector="metadata.name=n2")),
        }

    def watch_from_version():
        rv = list_rv(v1)
        v1.create_node(node("n4", "b"))
        v1.patch_node("n2", {"metadata": {"labels": {"tier": "x"}}})
        v1.delete_node("n3")
        events = watch_events(v1, resource_version=rv)
        return [[e["type"], e["object"].metadata.name] for e in events]

    def watch_bookmarks():
        rv = list_rv(v1)
        events = watch_events(v1, resource_version=rv, allow_watch_bookmarks=True)
        bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
        return {
            "bookmark": bool(bookmarks),
            "bookmark_not_older": all(
                int(e["raw_object"]["metadata"]["resourceVersion"]) >= int(rv)
                for e in bookmarks
            ),
        }

    def paginated_list():
        seen, pages, token = [], 0, None
        while True:
            page = v1.list_node(limit=1, _continue=token) if token else v1.list_node(limit=1)
            pages += 1
            seen.extend(n.metadata.name for n in page.items)
            token = page.metadata._continue
            if not token:
                break
        return {"names": seen, "pages": pages}

    def gone_after_compaction():
        old = list_rv(v1)
        v1.patch_node("n1", {"metadata": {"labels": {"changed": "yes"}}})
        compact(api_client)
        observed = {}
        try:
            watch_events(v1, resource_version=old)
            observed["watch"] = "no error"
        except ApiException as e:
            observed["watch"] = e.status
        try:
            v1.list_node(resource_version=old, resource_version_match="Exact")
            observed["list"] = "no error"
        except ApiException as e:
            observed["list"] = e.status
        return observed

    return [
        ("create", create),
        ("get", get),
        ("list", list_all),
        ("patch-status", patch_status),
        ("label-selector", label_selector),
        ("field-selector", field_selector),
        ("watch-from-version", watch_from_version),
        ("watch-bookmarks", watch_bookmarks),
        ("paginated-list", paginated_list),
        ("gone-after-compaction", gone_after_compaction),
    ]


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    api_client = config.new_client_from_config(config_file=sys.argv[1])
    v1 = client.CoreV1Api(api_client)
    failed = 0
    for name, run in scenarios(v1, api_client):
        try:
            print(json.dumps({"scenario": name, "observed": run()}), flush=True)
        except Exception as e:  # report and go on: later scenarios may still pass
            failed += 1
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print(json.dumps({"scenario": name, "error": detail}), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
