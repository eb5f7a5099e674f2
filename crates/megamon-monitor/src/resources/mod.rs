//! The Kubernetes objects MegaMon watches, as lean types: only the fields the
//! rules read are deserialised (metadata is cut down to identity and the
//! labels a rule reads), so a 65,000-node list never materialises whole Node
//! objects. One module per resource, each a [`Watched`] implementation: what
//! it is called, how it is watched, its key and its facts.

mod jobset;
mod lws;
mod node;
mod pod;
mod slice;

use std::collections::BTreeMap;
use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::runtime::watcher;
use megamon_core::entity;
use serde::Deserializer;
use serde::de::DeserializeOwned;

use crate::fleet::{Change, Update};

pub use jobset::JobSetResource;
pub use lws::LeaderWorkerSetResource;
pub use node::NodeResource;
pub use pod::{LEADER_POD_FIELDS, LEADER_POD_LABELS, PodResource};
pub use slice::SliceResource;

/// A resource the monitor watches.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static
{
    /// What logs call its watch.
    const WHAT: &'static str;
    /// What the fleet keeps of one.
    type Facts: Send + 'static;

    /// How it is watched (selectors, page size).
    fn watcher_config() -> watcher::Config {
        watcher::Config::default()
    }

    /// The key its deletions are reported under.
    fn key(&self) -> String;

    /// Its facts; `None` when it no longer matches what is tracked (then it
    /// is reported deleted).
    fn facts(self) -> Option<Self::Facts>;

    /// A change of its facts, as the fleet takes it.
    fn update(change: Change<Self::Facts>) -> Update;
}

/// The metadata fields MegaMon needs: identity, resourceVersion for the
/// watcher, and the labels in `keep`. Everything else (other labels,
/// annotations, managedFields...) is skipped while parsing, never allocated.
pub(crate) fn lean_meta<'de, D: Deserializer<'de>>(
    d: D,
    keep: &'static [&'static str],
) -> Result<ObjectMeta, D::Error> {
    use megamon_core::entity::or_null::OrNull;
    use serde::de::{IgnoredAny, MapAccess, Visitor};

    struct Labels(&'static [&'static str]);
    impl<'de> Visitor<'de> for Labels {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a map of labels")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                if self.0.contains(&key.as_ref()) {
                    out.insert(key.into_owned(), map.next_value::<String>()?);
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(Some(out))
        }
    }

    struct Meta(&'static [&'static str]);
    impl<'de> Visitor<'de> for Meta {
        type Value = ObjectMeta;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("object metadata")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ObjectMeta, A::Error> {
            let mut meta = ObjectMeta::default();
            while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                match key.as_ref() {
                    "name" => meta.name = map.next_value()?,
                    "namespace" => meta.namespace = map.next_value()?,
                    "uid" => meta.uid = map.next_value()?,
                    "resourceVersion" => meta.resource_version = map.next_value()?,
                    "labels" => meta.labels = map.next_value_seed(OrNull(Labels(self.0)))?,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
            }
            Ok(meta)
        }
    }
    d.deserialize_map(Meta(keep))
}

pub(crate) fn core_meta(meta: ObjectMeta) -> entity::ObjectMeta {
    entity::ObjectMeta {
        name: meta.name.unwrap_or_default(),
        namespace: meta.namespace.unwrap_or_default(),
        uid: meta.uid.unwrap_or_default(),
        labels: meta.labels.unwrap_or_default(),
    }
}

/// `impl Resource` for a lean type with a `metadata: ObjectMeta` field.
macro_rules! lean_resource {
    ($ty:ident, $scope:ty, $group:literal, $version:literal, $kind:literal, $plural:literal) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;
            fn kind(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($kind)
            }
            fn group(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($group)
            }
            fn version(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($version)
            }
            fn plural(_: &()) -> std::borrow::Cow<'_, str> {
                std::borrow::Cow::Borrowed($plural)
            }
            fn meta(&self) -> &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &self.metadata
            }
            fn meta_mut(
                &mut self,
            ) -> &mut k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                &mut self.metadata
            }
        }
    };
}
use lean_resource;
