//! Where the fleet's knowledge comes from: Kubernetes watches and the GKE
//! node pools API. Each source sends stamped updates to the engine.

pub mod gke;
pub mod kube;
