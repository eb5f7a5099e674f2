//! JobSet leader pods (SPEC §2.6): where each JobSet's jobs run.

use std::collections::{BTreeMap, HashMap};

use super::Staged;
use crate::fleet::Change;

/// A JobSet leader pod (`job-completion-index=0`, scheduled), reduced to what
/// scheduling needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderPod {
    pub namespace: String,
    pub name: String,
    pub node_name: String,
    /// Label `batch.kubernetes.io/job-name`.
    pub job_name: String,
    /// Label `jobset.sigs.k8s.io/jobset-name`.
    pub jobset_name: String,
}

impl LeaderPod {
    /// The key deletes refer to: `namespace/name`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn jobset(&self) -> (String, String) {
        (self.namespace.clone(), self.jobset_name.clone())
    }
}

#[derive(Debug, Default)]
pub(crate) struct LeaderPodIndex {
    by_key: BTreeMap<String, LeaderPod>,
    /// (namespace, JobSet name) → its leader pods' keys, sorted: a vector,
    /// as a JobSet has one or a few (a `BTreeSet` of one allocates a node
    /// for eleven: 0.9 MB for 4,096 JobSets).
    by_jobset: HashMap<(String, String), Vec<String>>,
    staged: Staged<LeaderPod>,
}

impl LeaderPodIndex {
    /// Folds a change in; returns whether anything changed.
    pub fn apply(&mut self, change: Change<LeaderPod>) -> bool {
        let Some(change) = self.staged.stage(change) else {
            return false;
        };
        match change {
            Change::Apply(pod) => {
                if self.by_key.get(&pod.key()) == Some(&pod) {
                    return false;
                }
                self.remove(&pod.key());
                let keys = self.by_jobset.entry(pod.jobset()).or_default();
                let key = pod.key();
                if let Err(at) = keys.binary_search(&key) {
                    keys.insert(at, key);
                }
                self.by_key.insert(pod.key(), pod);
                true
            }
            Change::Delete(key) => self.remove(&key),
            Change::Reset(all) => {
                self.by_key.clear();
                self.by_jobset.clear();
                for pod in all {
                    self.apply(Change::Apply(pod));
                }
                true
            }
            Change::Listing | Change::Listed(_) => false,
        }
    }

    fn remove(&mut self, key: &str) -> bool {
        let Some(pod) = self.by_key.remove(key) else {
            return false;
        };
        let jobset = pod.jobset();
        if let Some(keys) = self.by_jobset.get_mut(&jobset) {
            keys.retain(|k| k != key);
            if keys.is_empty() {
                self.by_jobset.remove(&jobset);
            }
        }
        true
    }

    pub fn all(&self) -> impl Iterator<Item = &LeaderPod> {
        self.by_key.values()
    }

    /// The nodes a JobSet's leader pods run on.
    pub fn nodes_of_jobset<'a>(&'a self, namespace: &str, name: &str) -> Vec<&'a str> {
        let key = (namespace.to_string(), name.to_string());
        self.by_jobset
            .get(&key)
            .into_iter()
            .flatten()
            .filter_map(|k| self.by_key.get(k))
            .map(|p| p.node_name.as_str())
            .collect()
    }
}
