//! The benchmark fleet: GKE TPU nodes as a real cluster serves them (about
//! 13 KB of JSON each: ~40 labels, four conditions, images, managedFields), in
//! pools of 16; one JobSet per pool with its leader pod on the pool's first
//! node (and, optionally, more JobSets per pool that wait for capacity: no
//! leader pod, no nodes); a slice for every other pool.
//!
//! Everything is a pure function of the fleet's size, so two runs list the same
//! objects. Statuses of custom resources are set after seeding (a create drops
//! `.status` where a status subresource exists, as the API server does).

use std::io::Write;

use serde_json::{Value, json};

/// Nodes per pool: a 4x4x4 TPU v5p slice of 4-chip hosts.
pub const POOL_SIZE: usize = 16;
pub const TOPOLOGY: &str = "4x4x4";
pub const ACCELERATOR: &str = "tpu-v5p-slice";
pub const NAMESPACE: &str = "training";
/// Pools per slice object: slices for half of the pools.
const POOLS_PER_SLICE: usize = 2;

/// The fleet's shape for a node count (rounded up to whole pools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fleet {
    pub pools: usize,
    /// JobSets per pool: the first runs on the pool, the others wait.
    pub jobsets_per_pool: usize,
}

impl Fleet {
    pub fn with_nodes(nodes: usize) -> Fleet {
        Fleet {
            pools: nodes.div_ceil(POOL_SIZE).max(1),
            jobsets_per_pool: 1,
        }
    }

    /// `n` JobSets per pool (at least one): the shape of the issue's render
    /// target, 4,096 JobSets on 1,024 pools, is 16,384 nodes with 4.
    pub fn with_jobsets_per_pool(self, n: usize) -> Fleet {
        Fleet {
            jobsets_per_pool: n.max(1),
            ..self
        }
    }

    pub fn nodes(&self) -> usize {
        self.pools * POOL_SIZE
    }

    /// Every JobSet: `jobset_name(0..jobsets())`; those below `pools` run.
    pub fn jobsets(&self) -> usize {
        self.pools * self.jobsets_per_pool
    }

    /// JobSets with a leader pod: one per pool.
    pub fn leader_pods(&self) -> usize {
        self.pools
    }

    pub fn slices(&self) -> usize {
        self.pools.div_ceil(POOLS_PER_SLICE)
    }

    /// The pools that have a slice.
    pub fn slice_pools(&self) -> impl Iterator<Item = usize> + use<> {
        (0..self.pools).step_by(POOLS_PER_SLICE)
    }
}

pub fn pool_name(pool: usize) -> String {
    format!("tpu-v5p-np-{pool:05}")
}

/// GKE-style node names: cluster, pool, instance group hash, instance suffix.
pub fn node_name(pool: usize, index: usize) -> String {
    format!(
        "gke-bench-tpu-v5p-np-{pool:05}-{:08x}-{}",
        hash(pool as u64) as u32,
        suffix(hash(pool as u64) as usize % 500_000 + index)
    )
}

pub fn jobset_name(pool: usize) -> String {
    format!("train-{pool:05}")
}

pub fn slice_name(pool: usize) -> String {
    format!("slice-{pool:05}")
}

pub fn leader_pod_name(jobset: &str) -> String {
    format!(
        "{jobset}-slice-0-0-{}",
        suffix(hash_str(jobset) as usize % 500_000)
    )
}

/// Block labels: 64 pools per block, 8 per sub-block.
fn blocks(pool: usize) -> (String, String, String, String) {
    let block = pool / 64;
    let sub = pool / 8;
    (
        format!("{:016x}", hash(block as u64 | 1 << 40)),
        format!("{:016x}", hash(sub as u64 | 1 << 41)),
        format!("tpu-v5p-reservation-block-{block:04}"),
        format!("tpu-v5p-reservation-block-{block:04}-subblock-{sub:05}"),
    )
}

fn hash(x: u64) -> u64 {
    // splitmix64: stable, well spread.
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn hash_str(s: &str) -> u64 {
    s.bytes()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| hash(h ^ u64::from(b)))
}

/// Four characters, distinct for distinct `i` below 27⁴.
fn suffix(i: usize) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h = i as u64;
    (0..4)
        .map(|_| {
            let c = ALPHABET[(h % ALPHABET.len() as u64) as usize] as char;
            h /= ALPHABET.len() as u64;
            c
        })
        .collect()
}

const CREATED: &str = "2026-01-05T08:00:00Z";

/// A Ready (or not) condition as the kubelet writes it.
pub fn ready_condition(ready: bool, at: &str) -> Value {
    if ready {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady",
               "message": "kubelet is posting ready status",
               "lastHeartbeatTime": at, "lastTransitionTime": at})
    } else {
        json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady",
               "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady",
               "lastHeartbeatTime": at, "lastTransitionTime": at})
    }
}

/// One TPU node of `pool`.
pub fn node(pool: usize, index: usize) -> Value {
    let name = node_name(pool, index);
    let pool_name = pool_name(pool);
    let jobset = jobset_name(pool);
    let (block_id, subblock_id, block_name, subblock_name) = blocks(pool);
    let n = pool * POOL_SIZE + index;
    let host = format!("{:016x}", hash(n as u64 | 1 << 42));
    let ip = format!("10.{}.{}.{}", 64 + (n >> 16) % 64, (n >> 8) & 255, n & 255);
    let pod_cidr = format!("10.{}.{}.0/24", 128 + (n >> 16) % 64, (n >> 8) & 255);
    let instance_id = format!("{}", hash(n as u64) % 9_000_000_000_000_000_000 + 1_000);
    let zone = "us-east5-a";
    let labels = json!({
        "addon.gke.io/node-local-dns-ds-ready": "true",
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/instance-type": "ct5p-hightpu-4t",
        "beta.kubernetes.io/os": "linux",
        "cloud.google.com/gce-topology-block": block_id,
        "cloud.google.com/gce-topology-host": host,
        "cloud.google.com/gce-topology-subblock": subblock_id,
        "cloud.google.com/gke-accelerator-count": "4",
        "cloud.google.com/gke-boot-disk": "hyperdisk-balanced",
        "cloud.google.com/gke-container-runtime": "containerd",
        "cloud.google.com/gke-cpu-scaling-level": "208",
        "cloud.google.com/gke-logging-variant": "DEFAULT",
        "cloud.google.com/gke-max-pods-per-node": "110",
        "cloud.google.com/gke-memory-gb-scaling-level": "448",
        "cloud.google.com/gke-netd-ready": "true",
        "cloud.google.com/gke-nodepool": pool_name,
        "cloud.google.com/gke-os-distribution": "cos",
        "cloud.google.com/gke-placement-group": format!("{pool_name}-placement"),
        "cloud.google.com/gke-provisioning": "reservation",
        "cloud.google.com/gke-stack-type": "IPV4",
        "cloud.google.com/gke-tpu-accelerator": ACCELERATOR,
        "cloud.google.com/gke-tpu-topology": TOPOLOGY,
        "cloud.google.com/machine-family": "ct5p",
        "cloud.google.com/private-node": "true",
        "cloud.google.com/reservation-blocks": block_name,
        "cloud.google.com/reservation-name": "tpu-v5p-reservation",
        "cloud.google.com/reservation-subblocks": subblock_name,
        "failure-domain.beta.kubernetes.io/region": "us-east5",
        "failure-domain.beta.kubernetes.io/zone": zone,
        "google.com/tpu-provisioner-jobset-name": jobset,
        "google.com/tpu-provisioner-jobset-namespace": NAMESPACE,
        "iam.gke.io/gke-metadata-server-enabled": "true",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "ct5p-hightpu-4t",
        "node.kubernetes.io/masq-agent-ds-ready": "true",
        "projectcalico.org/ds-ready": "true",
        "topology.gke.io/zone": zone,
        "topology.kubernetes.io/region": "us-east5",
        "topology.kubernetes.io/zone": zone
    });
    let applied: Vec<String> = labels
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| k.starts_with("cloud.google.com/"))
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let label_fields: serde_json::Map<String, Value> = labels
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, _)| (format!("f:{k}"), json!({})))
        .chain([(".".to_string(), json!({}))])
        .collect();
    let images: Vec<Value> = IMAGES
        .iter()
        .enumerate()
        .map(|(i, (repo, tag, size))| {
            json!({"names": [
                format!("{repo}@sha256:{:016x}{:016x}{:016x}{:016x}", hash(i as u64), hash(i as u64 + 1), hash(i as u64 + 2), hash(i as u64 + 3)),
                format!("{repo}:{tag}")
            ], "sizeBytes": size})
        })
        .collect();
    let conditions = json!([
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
         "message": "kubelet has sufficient memory available",
         "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED},
        {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
         "message": "kubelet has no disk pressure",
         "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED},
        {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
         "message": "kubelet has sufficient PID available",
         "lastHeartbeatTime": CREATED, "lastTransitionTime": CREATED},
        ready_condition(true, CREATED)
    ]);
    let condition_fields: serde_json::Map<String, Value> =
        ["DiskPressure", "MemoryPressure", "PIDPressure", "Ready"]
            .iter()
            .map(|t| {
                (
                    format!("k:{{\"type\":\"{t}\"}}"),
                    json!({"f:lastHeartbeatTime": {}, "f:lastTransitionTime": {}, "f:message": {}, "f:reason": {}, "f:status": {}}),
                )
            })
            .chain([(".".to_string(), json!({}))])
            .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": {
                "container.googleapis.com/instance_id": instance_id,
                "csi.volume.kubernetes.io/nodeid": format!("{{\"pd.csi.storage.gke.io\":\"projects/bench-project/zones/{zone}/instances/{name}\"}}"),
                "node.alpha.kubernetes.io/ttl": "0",
                "node.gke.io/last-applied-node-labels": applied.join(","),
                "node.gke.io/last-applied-node-taints": "google.com/tpu=present:NoSchedule",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true"
            },
            "creationTimestamp": CREATED,
            "managedFields": [
                {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubelet", "operation": "Update", "time": CREATED,
                 "fieldsV1": {"f:metadata": {"f:annotations": {".": {}, "f:container.googleapis.com/instance_id": {},
                     "f:node.alpha.kubernetes.io/ttl": {}, "f:volumes.kubernetes.io/controller-managed-attach-detach": {}},
                     "f:labels": label_fields}}},
                {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kube-controller-manager", "operation": "Update", "time": CREATED,
                 "fieldsV1": {"f:spec": {"f:podCIDR": {}, "f:podCIDRs": {".": {}, "v:\"10.0.0.0/24\"": {}}}}},
                {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "gcp-controller-manager", "operation": "Update", "time": CREATED,
                 "fieldsV1": {"f:metadata": {"f:annotations": {"f:node.gke.io/last-applied-node-labels": {},
                     "f:node.gke.io/last-applied-node-taints": {}}}, "f:spec": {"f:taints": {}}}},
                {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubelet", "operation": "Update", "subresource": "status", "time": CREATED,
                 "fieldsV1": {"f:status": {"f:allocatable": {"f:cpu": {}, "f:ephemeral-storage": {}, "f:google.com/tpu": {}, "f:memory": {}},
                     "f:capacity": {"f:cpu": {}, "f:ephemeral-storage": {}, "f:google.com/tpu": {}, "f:memory": {}},
                     "f:conditions": condition_fields, "f:images": {}, "f:nodeInfo": {"f:bootID": {}, "f:kernelVersion": {}, "f:osImage": {}}}}}
            ],
            "resourceVersion": "1",
            "uid": format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", hash(n as u64) as u32, n & 0xffff, n % 4096, (n / 7) % 4096, hash(n as u64 ^ 77) & 0xffff_ffff_ffff)
        },
        "spec": {
            "podCIDR": pod_cidr,
            "podCIDRs": [pod_cidr],
            "providerID": format!("gce://bench-project/{zone}/{name}"),
            "taints": [{"effect": "NoSchedule", "key": "google.com/tpu", "value": "present"}]
        },
        "status": {
            "addresses": [
                {"address": ip, "type": "InternalIP"},
                {"address": name, "type": "InternalDNS"},
                {"address": name, "type": "Hostname"}
            ],
            "allocatable": {"cpu": "207830m", "ephemeral-storage": "47060071478", "google.com/tpu": "4",
                            "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "457763496Ki", "pods": "110"},
            "capacity": {"cpu": "208", "ephemeral-storage": "98831908Ki", "google.com/tpu": "4",
                         "hugepages-1Gi": "0", "hugepages-2Mi": "0", "memory": "472263848Ki", "pods": "110"},
            "conditions": conditions,
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "images": images,
            "nodeInfo": {
                "architecture": "amd64", "bootID": format!("{:016x}-{:016x}", hash(n as u64 ^ 1), hash(n as u64 ^ 2)),
                "containerRuntimeVersion": "containerd://1.7.24", "kernelVersion": "6.6.72+",
                "kubeProxyVersion": "v1.32.2-gke.1182003", "kubeletVersion": "v1.32.2-gke.1182003",
                "machineID": format!("{:016x}{:016x}", hash(n as u64 ^ 3), hash(n as u64 ^ 4)), "operatingSystem": "linux",
                "osImage": "Container-Optimized OS from Google",
                "systemUUID": format!("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", hash(n as u64 ^ 5) as u32, n & 0xffff, 0x4000 | (n % 4096), 0x8000 | (n % 4096), hash(n as u64 ^ 6) & 0xffff_ffff_ffff)
            }
        }
    })
}

/// Images a TPU node of a training cluster has pulled (repository, tag, size).
const IMAGES: &[(&str, &str, u64)] = &[
    (
        "us-docker.pkg.dev/bench-project/training/maxtext-jax-stable",
        "2026-01-02-r3",
        9_613_742_217,
    ),
    (
        "us-docker.pkg.dev/bench-project/training/maxtext-jax-nightly",
        "2026-01-04",
        9_732_114_008,
    ),
    ("gke.gcr.io/gke-metrics-agent", "1.15.4-gke.3", 81_253_004),
    ("gke.gcr.io/fluent-bit", "v1.8.12-gke.34", 72_113_590),
    (
        "gke.gcr.io/gcp-compute-persistent-disk-csi-driver",
        "v1.15.4-gke.1",
        53_901_772,
    ),
    ("gke.gcr.io/netd", "v0.3.10-gke.2", 41_730_095),
    ("gke.gcr.io/tpu-device-plugin", "v1.11.0-gke.4", 39_441_817),
    (
        "gke.gcr.io/kube-proxy-amd64",
        "v1.32.2-gke.1182003",
        28_190_556,
    ),
    (
        "gke.gcr.io/ip-masq-agent",
        "v2.9.3-v0.2.14-gke.11",
        26_602_871,
    ),
    ("gke.gcr.io/prometheus-to-sd", "v0.11.12-gke.11", 12_493_260),
    ("gke.gcr.io/k8s-dns-node-cache", "1.23.1-gke.8", 11_875_103),
    (
        "gke.gcr.io/gke-metadata-server",
        "20250122_2300_RC0",
        9_002_431,
    ),
    (
        "gke.gcr.io/csi-node-driver-registrar",
        "v2.12.0-gke.1",
        8_903_218,
    ),
    ("gke.gcr.io/pause", "3.10@gke.1", 303_781),
    (
        "gke.gcr.io/node-problem-detector",
        "v0.8.20-gke.1",
        44_120_512,
    ),
    ("gke.gcr.io/gcs-fuse-csi-driver", "v1.7.1-gke.3", 36_812_044),
    ("gke.gcr.io/cilium/cilium", "v1.15.12-gke.100", 141_338_790),
    ("gke.gcr.io/kube-state-metrics", "v2.13.0-gke.6", 19_744_183),
    (
        "us-docker.pkg.dev/bench-project/tools/tpu-info",
        "0.3.1",
        402_117_950,
    ),
];

/// The JobSet of `pool`: one replicated job of 16 workers on the pool's slice.
pub fn jobset(name: &str) -> Value {
    json!({
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": name, "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/part-of": "bench", "kueue.x-k8s.io/queue-name": "tpu-v5p"},
                     "annotations": {"alpha.jobset.sigs.k8s.io/exclusive-topology": "cloud.google.com/gke-nodepool"}},
        "spec": {
            "failurePolicy": {"maxRestarts": 10},
            "network": {"enableDNSHostnames": true, "publishNotReadyAddresses": true},
            "replicatedJobs": [{
                "name": "slice",
                "replicas": 1,
                "template": {"spec": {
                    "backoffLimit": 0, "completionMode": "Indexed", "completions": POOL_SIZE, "parallelism": POOL_SIZE,
                    "template": {"spec": {
                        "nodeSelector": {
                            "cloud.google.com/gke-tpu-accelerator": ACCELERATOR,
                            "cloud.google.com/gke-tpu-topology": TOPOLOGY
                        },
                        "restartPolicy": "Never",
                        "containers": [{"name": "jax", "image": "us-docker.pkg.dev/bench-project/training/maxtext-jax-stable:2026-01-02-r3",
                                        "command": ["python3", "-m", "maxtext.train", "--config=v5p-1024.yaml"],
                                        "resources": {"limits": {"google.com/tpu": "4"}}}]
                    }}
                }}
            }],
            "startupPolicy": {"startupPolicyOrder": "AnyOrder"},
            "successPolicy": {"operator": "All"},
            "suspend": false
        }
    })
}

/// The status of a running JobSet: its one job ready.
pub fn jobset_running_status() -> Value {
    json!({"status": {
        "replicatedJobsStatus": [{"name": "slice", "ready": 1, "succeeded": 0, "failed": 0, "active": 1, "suspended": 0}],
        "restarts": 0, "terminalState": "", "conditions": []
    }})
}

/// The leader pod of `jobset` (completion index 0), on `node`.
pub fn leader_pod(jobset: &str, node: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": leader_pod_name(jobset),
            "namespace": NAMESPACE,
            "labels": {
                "batch.kubernetes.io/controller-uid": format!("{:016x}", hash_str(jobset)),
                "batch.kubernetes.io/job-completion-index": "0",
                "batch.kubernetes.io/job-name": format!("{jobset}-slice-0"),
                "jobset.sigs.k8s.io/jobset-name": jobset,
                "jobset.sigs.k8s.io/replicatedjob-name": "slice",
                "jobset.sigs.k8s.io/job-index": "0"
            }
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": "jax", "image": "us-docker.pkg.dev/bench-project/training/maxtext-jax-stable:2026-01-02-r3",
                            "resources": {"limits": {"google.com/tpu": "4"}}}],
            "restartPolicy": "Never"
        }
    })
}

/// The slice of `pool`, owned by the pool's JobSet.
pub fn slice(pool: usize) -> Value {
    json!({
        "apiVersion": "accelerator.gke.io/v1beta1",
        "kind": "Slice",
        "metadata": {"name": slice_name(pool), "labels": {
            "tpu-provisioner.cloud.google.com/owner-kind": "JobSet",
            "tpu-provisioner.cloud.google.com/owner-name": jobset_name(pool),
            "tpu-provisioner.cloud.google.com/owner-namespace": NAMESPACE
        }},
        "spec": {"type": ACCELERATOR, "topology": TOPOLOGY,
                 "partitionIds": [format!("{:016x}", hash(pool as u64 ^ 99))]}
    })
}

pub fn slice_ready_status() -> Value {
    json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "SliceReady",
        "message": "all hosts are healthy", "lastTransitionTime": CREATED}]}})
}

/// How much of each kind a seed file holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSize {
    pub node_bytes: u64,
    pub jobset_bytes: u64,
    pub pod_bytes: u64,
    pub slice_bytes: u64,
}

impl SeedSize {
    pub fn total(&self) -> u64 {
        self.node_bytes + self.jobset_bytes + self.pod_bytes + self.slice_bytes
    }
}

/// Writes the whole fleet as one `kind: List`, object by object (a 65,536-node
/// fleet is about 0.9 GB of JSON: never held at once).
pub fn write_seed(fleet: Fleet, out: &mut impl Write) -> std::io::Result<SeedSize> {
    let mut size = SeedSize::default();
    // The monitor keeps its slice owner map in this namespace.
    out.write_all(br#"{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"megamon-system"}}"#)?;
    let mut first = false;
    let mut item = |out: &mut dyn Write, value: &Value| -> std::io::Result<u64> {
        if !first {
            out.write_all(b",")?;
        }
        first = false;
        let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
        out.write_all(&bytes)?;
        Ok(bytes.len() as u64)
    };
    for pool in 0..fleet.pools {
        for i in 0..POOL_SIZE {
            size.node_bytes += item(out, &node(pool, i))?;
        }
    }
    for j in 0..fleet.jobsets() {
        let name = jobset_name(j);
        size.jobset_bytes += item(out, &jobset(&name))?;
        // JobSet `j` runs on pool `j`; the others wait for capacity.
        if j < fleet.leader_pods() {
            size.pod_bytes += item(out, &leader_pod(&name, &node_name(j, 0)))?;
        }
    }
    for pool in fleet.slice_pools() {
        size.slice_bytes += item(out, &slice(pool))?;
    }
    out.write_all(b"]}")?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_about_13_kb_with_about_40_labels() {
        let n = node(3, 5);
        let bytes = serde_json::to_vec(&n).expect("serialises").len();
        assert!((11_000..15_000).contains(&bytes), "{bytes} bytes");
        let labels = n["metadata"]["labels"].as_object().map(|l| l.len());
        assert_eq!(labels, Some(41));
        assert_eq!(n["status"]["conditions"].as_array().map(Vec::len), Some(4));
        assert_eq!(
            n["metadata"]["labels"]["cloud.google.com/gke-nodepool"],
            pool_name(3)
        );
    }

    #[test]
    fn names_are_stable_and_distinct() {
        assert_eq!(node_name(1, 2), node_name(1, 2));
        let mut names: Vec<String> = (0..4096)
            .flat_map(|p| (0..POOL_SIZE).map(move |i| node_name(p, i)))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 4096 * POOL_SIZE);
    }

    #[test]
    fn the_seed_is_one_list_of_every_object() {
        let fleet = Fleet::with_nodes(64);
        let mut out = Vec::new();
        let size = write_seed(fleet, &mut out).expect("write");
        let list: Value = serde_json::from_slice(&out).expect("valid JSON");
        let items = list["items"].as_array().map(Vec::len);
        assert_eq!(items, Some(1 + 64 + 4 + 4 + 2), "a namespace and the fleet");
        assert_eq!(list["items"][0]["kind"], "Namespace");
        // The sizes count each kind's objects, not the wrapper and commas.
        assert!(size.node_bytes > 64 * 11_000 && size.slice_bytes > 0);
        assert!(size.total() < out.len() as u64);
    }

    #[test]
    fn waiting_jobsets_have_no_leader_pod() {
        let fleet = Fleet::with_nodes(64).with_jobsets_per_pool(3);
        let mut out = Vec::new();
        write_seed(fleet, &mut out).expect("write");
        let list: Value = serde_json::from_slice(&out).expect("valid JSON");
        let items = list["items"].as_array().expect("items");
        let count = |kind: &str| items.iter().filter(|i| i["kind"] == kind).count();
        assert_eq!(count("JobSet"), 12);
        assert_eq!(count("Pod"), 4);
        let names: std::collections::BTreeSet<&str> = items
            .iter()
            .filter(|i| i["kind"] == "JobSet")
            .filter_map(|i| i["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names.len(), 12, "distinct names");
    }
}
