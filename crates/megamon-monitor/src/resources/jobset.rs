//! `jobset.x-k8s.io/v1alpha2` JobSets.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use megamon_core::entity::jobset::{JobSetFacts, JobSetObject, JobSetSpec, JobSetStatus};
use serde::{Deserialize, Deserializer};

use super::{Watched, core_meta, lean_meta, lean_resource};
use crate::fleet::{Change, Update};

#[derive(Debug, Clone, Deserialize)]
pub struct JobSetResource {
    #[serde(deserialize_with = "jobset_meta")]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: JobSetSpec,
    #[serde(default)]
    pub status: JobSetStatus,
}
lean_resource!(
    JobSetResource,
    k8s_openapi::NamespaceResourceScope,
    "jobset.x-k8s.io",
    "v1alpha2",
    "JobSet",
    "jobsets"
);

fn jobset_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    lean_meta(d, &[])
}

impl Watched for JobSetResource {
    const WHAT: &'static str = "jobsets";
    type Facts = JobSetFacts;

    fn key(&self) -> String {
        self.metadata.uid.clone().unwrap_or_default()
    }

    fn facts(self) -> Option<JobSetFacts> {
        Some(JobSetFacts::from(&JobSetObject {
            metadata: core_meta(self.metadata),
            spec: self.spec,
            status: self.status,
        }))
    }

    fn update(change: Change<JobSetFacts>) -> Update {
        Update::JobSets(change)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::Resource;

    #[test]
    fn url_is_the_real_api_path() {
        assert_eq!(
            JobSetResource::url_path(&(), Some("default")),
            "/apis/jobset.x-k8s.io/v1alpha2/namespaces/default/jobsets"
        );
    }
}
