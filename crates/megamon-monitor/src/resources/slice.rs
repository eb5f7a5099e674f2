//! `accelerator.gke.io/v1beta1` Slices (cluster-scoped).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use megamon_core::entity::labels;
use megamon_core::entity::slice::{SliceFacts, SliceObject, SliceSpec, SliceStatus};
use serde::{Deserialize, Deserializer};

use super::{Watched, core_meta, lean_meta, lean_resource};
use crate::fleet::{Change, Update};

#[derive(Debug, Clone, Deserialize)]
pub struct SliceResource {
    #[serde(deserialize_with = "slice_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: SliceSpec,
    #[serde(default)]
    pub status: SliceStatus,
}
lean_resource!(
    SliceResource,
    k8s_openapi::ClusterResourceScope,
    "accelerator.gke.io",
    "v1beta1",
    "Slice",
    "slices"
);

const SLICE_LABELS: &[&str] = &[
    labels::SLICE_OWNER_KIND,
    labels::SLICE_OWNER_NAME,
    labels::SLICE_OWNER_NAMESPACE,
];

fn slice_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, SLICE_LABELS)
}

impl Watched for SliceResource {
    const WHAT: &'static str = "slices";
    type Facts = SliceFacts;

    fn key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }

    fn facts(self) -> Option<SliceFacts> {
        Some(SliceFacts::from(&SliceObject {
            metadata: core_meta(self.metadata),
            spec: self.spec,
            status: self.status,
        }))
    }

    fn update(change: Change<SliceFacts>) -> Update {
        Update::Slices(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn url_is_the_real_api_path() {
        assert_eq!(
            SliceResource::url_path(&(), None),
            "/apis/accelerator.gke.io/v1beta1/slices"
        );
    }
}
