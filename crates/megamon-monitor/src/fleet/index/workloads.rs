//! An index of namespaced workloads by uid, findable by name: JobSets and
//! LeaderWorkerSets are both kept this way.

use std::collections::{BTreeSet, HashMap};

use megamon_core::entity::slice::OwnerRef;

use crate::fleet::Change;

/// A workload as its index needs to know it.
pub(crate) trait Workload {
    /// The kind its slices' owner labels name.
    const KIND: &'static str;
    fn uid(&self) -> &str;
    fn namespace(&self) -> &str;
    fn name(&self) -> &str;

    /// Keeps what only a sequence of versions shows, from the workload's
    /// previous version (a JobSet's restart).
    fn carry_from(&mut self, _previous: &Self) {}

    fn owner_ref(&self) -> OwnerRef {
        OwnerRef {
            kind: Self::KIND.to_string(),
            namespace: self.namespace().to_string(),
            name: self.name().to_string(),
        }
    }
}

#[derive(Debug)]
pub(crate) struct WorkloadIndex<T> {
    by_uid: HashMap<String, T>,
    /// (namespace, name) → uid.
    uids: HashMap<(String, String), String>,
}

impl<T> Default for WorkloadIndex<T> {
    fn default() -> Self {
        WorkloadIndex {
            by_uid: HashMap::new(),
            uids: HashMap::new(),
        }
    }
}

impl<T: Workload> WorkloadIndex<T> {
    /// Folds a change in; adds the uids it touched and the owners they are.
    pub fn apply(
        &mut self,
        change: Change<T>,
        uids: &mut BTreeSet<String>,
        owners: &mut BTreeSet<OwnerRef>,
    ) {
        match change {
            Change::Apply(w) => {
                uids.insert(w.uid().to_string());
                owners.insert(w.owner_ref());
                uids.extend(self.insert(w));
            }
            Change::Delete(uid) => {
                uids.insert(uid.clone());
                if let Some(w) = self.remove(&uid) {
                    owners.insert(w.owner_ref());
                }
            }
            Change::Reset(all) => {
                let mut previous = std::mem::take(&mut self.by_uid);
                for (uid, w) in &previous {
                    owners.insert(w.owner_ref());
                    uids.insert(uid.clone());
                }
                self.uids.clear();
                for mut w in all {
                    uids.insert(w.uid().to_string());
                    owners.insert(w.owner_ref());
                    if let Some(before) = previous.remove(w.uid()) {
                        w.carry_from(&before);
                    }
                    uids.extend(self.insert(w));
                }
            }
        }
    }

    /// Returns the uid of a workload of the same name it replaced: two
    /// cannot coexist, so the old one's deletion was missed or is late.
    fn insert(&mut self, mut w: T) -> Option<String> {
        if let Some(before) = self.by_uid.get(w.uid()) {
            w.carry_from(before);
        }
        let name = (w.namespace().to_string(), w.name().to_string());
        let replaced = self
            .uids
            .insert(name, w.uid().to_string())
            .filter(|old| old != w.uid());
        if let Some(old) = &replaced {
            self.by_uid.remove(old);
        }
        self.by_uid.insert(w.uid().to_string(), w);
        replaced
    }

    fn remove(&mut self, uid: &str) -> Option<T> {
        let w = self.by_uid.remove(uid)?;
        let name = (w.namespace().to_string(), w.name().to_string());
        if self.uids.get(&name).is_some_and(|u| u == uid) {
            self.uids.remove(&name);
        }
        Some(w)
    }

    pub fn get(&self, uid: &str) -> Option<&T> {
        self.by_uid.get(uid)
    }

    pub fn uid_of(&self, namespace: &str, name: &str) -> Option<&str> {
        self.uids
            .get(&(namespace.to_string(), name.to_string()))
            .map(String::as_str)
    }

    pub fn by_name(&self, namespace: &str, name: &str) -> Option<&T> {
        self.uid_of(namespace, name).and_then(|uid| self.get(uid))
    }

    pub fn uids(&self) -> impl Iterator<Item = &str> {
        self.by_uid.keys().map(String::as_str)
    }
}
