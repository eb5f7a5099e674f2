//! Leader election on a `coordination.k8s.io/v1` Lease, as client-go's
//! `leaderelection` (and so controller-runtime) does it: get the Lease, and
//! take or renew it with an update conditional on the `resourceVersion` just
//! read, so two candidates can never both win (the loser gets 409). A Lease
//! held by someone else counts as expired once it has not changed for its
//! `leaseDurationSeconds` of *our* clock, so clocks need not agree.
//!
//! Written here rather than taken from `kube-lease-manager`: that crate
//! decides who holds the lock by server-side-apply field ownership (and
//! pulls a second major version of `rand`), where client-go's algorithm needs
//! only the optimistic concurrency every API server enforces.
//!
//! A leader that cannot renew within the renew deadline steps down (a
//! standby again) instead of exiting as controller-runtime does **[ours]**:
//! its watches stay warm, and the store's conditional writes keep a late
//! write of a deposed leader from replacing the new leader's history.
//! Stopping releases the Lease (empty holder, 1 s duration) so a standby
//! takes over at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How the election is run; controller-runtime's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionTimings {
    /// How long a Lease that stopped changing still counts as held.
    pub lease_duration: Duration,
    /// How long a leader keeps trying to renew before it steps down.
    pub renew_deadline: Duration,
    /// How often candidates try to take the Lease and leaders renew it.
    pub retry_period: Duration,
}

impl Default for ElectionTimings {
    fn default() -> Self {
        ElectionTimings {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

impl ElectionTimings {
    /// The order client-go requires: lease > renew deadline > retry period.
    pub fn validate(&self) -> Result<(), String> {
        if self.retry_period.is_zero() {
            return Err("the retry period must be more than 0".into());
        }
        if self.renew_deadline <= self.retry_period {
            return Err(format!(
                "the renew deadline ({:?}) must be longer than the retry period ({:?})",
                self.renew_deadline, self.retry_period
            ));
        }
        if self.lease_duration <= self.renew_deadline {
            return Err(format!(
                "the lease duration ({:?}) must be longer than the renew deadline ({:?})",
                self.lease_duration, self.renew_deadline
            ));
        }
        Ok(())
    }
}

/// Who runs for which Lease.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub namespace: String,
    pub lease_name: String,
    /// Unique per process: the pod name plus a random suffix.
    pub identity: String,
    pub timings: ElectionTimings,
}

/// The Lease's name: `megamon`, with `OptionalControllerSuffix` appended
/// (after a `-` unless it starts with one).
pub fn lease_name(suffix: &str) -> String {
    match suffix {
        "" => "megamon".to_string(),
        s if s.starts_with('-') => format!("megamon{s}"),
        s => format!("megamon-{s}"),
    }
}

/// This process's identity: `POD_NAME` (else the host name) and a random
/// suffix, so two replicas on one machine differ.
pub fn identity() -> String {
    let host = std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "megamon".to_string());
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{host}_{}", &random[..8])
}

/// The namespace of the pod: `POD_NAMESPACE`, else the service account's
/// namespace file, else `default`.
pub fn pod_namespace() -> String {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace").ok()
        })
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

/// A running election: whether this process leads, and whether its loop is
/// alive (for `/healthz`).
#[derive(Debug, Clone)]
pub struct Leadership {
    leading: watch::Receiver<bool>,
    /// Keeps a sole instance's channel open (so waiting on it waits).
    _sole: Option<Arc<watch::Sender<bool>>>,
    /// Milliseconds since the Unix epoch of the loop's last step; 0 when no
    /// election runs (a sole instance).
    heartbeat: Arc<AtomicI64>,
    /// The loop steps at least this often; older heartbeats mean it is wedged.
    stale_after: Duration,
}

impl Leadership {
    /// No election: this process always leads.
    pub fn sole() -> Leadership {
        let (tx, leading) = watch::channel(true);
        Leadership {
            leading,
            _sole: Some(Arc::new(tx)),
            heartbeat: Arc::new(AtomicI64::new(0)),
            stale_after: Duration::MAX,
        }
    }

    pub fn is_leader(&self) -> bool {
        *self.leading.borrow()
    }

    /// A receiver that sees every change of leadership.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Whether the election loop has stepped recently (always, without one).
    pub fn is_alive(&self) -> bool {
        let last = self.heartbeat.load(Ordering::Acquire);
        if last == 0 {
            return true;
        }
        let now = jiff::Timestamp::now().as_millisecond();
        let age = Duration::from_millis(u64::try_from(now - last).unwrap_or(0));
        age < self.stale_after
    }
}

/// Starts running for the Lease. The task stops, releasing the Lease if it
/// holds it, when `stop` is cancelled; await the handle for the release.
pub fn spawn(
    client: Client,
    candidate: Candidate,
    stop: CancellationToken,
) -> (Leadership, tokio::task::JoinHandle<()>) {
    let (tx, leading) = watch::channel(false);
    let heartbeat = Arc::new(AtomicI64::new(jiff::Timestamp::now().as_millisecond()));
    let t = &candidate.timings;
    // A step can take the renew deadline (a slow API server) plus a retry.
    let stale_after = t.renew_deadline + t.retry_period * 3;
    let leadership = Leadership {
        leading,
        _sole: None,
        heartbeat: heartbeat.clone(),
        stale_after,
    };
    let api = Api::<Lease>::namespaced(client, &candidate.namespace);
    let elector = Elector {
        api,
        candidate,
        observed: None,
        heartbeat,
    };
    let task = tokio::spawn(elector.run(tx, stop));
    (leadership, task)
}

struct Elector {
    api: Api<Lease>,
    candidate: Candidate,
    /// The Lease as last read and when it last changed, by our clock.
    observed: Option<(LeaseSpec, Instant)>,
    heartbeat: Arc<AtomicI64>,
}

impl Elector {
    fn beat(&self) {
        self.heartbeat
            .store(jiff::Timestamp::now().as_millisecond(), Ordering::Release);
    }

    async fn run(mut self, tx: watch::Sender<bool>, stop: CancellationToken) {
        let c = self.candidate.clone();
        tracing::info!(lease = %format!("{}/{}", c.namespace, c.lease_name), identity = %c.identity, "running for leader");
        loop {
            // Candidate: try until the Lease is ours.
            loop {
                match self.try_acquire_or_renew().await {
                    Ok(true) => break,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot read or take the leader Lease"),
                }
                self.beat();
                if self.pause(&stop, true).await {
                    return;
                }
            }
            tracing::info!(identity = %c.identity, "became the leader");
            tx.send_replace(true);
            // Leader: renew every retry period; step down past the deadline.
            let mut renewed = Instant::now();
            loop {
                self.beat();
                if self.pause(&stop, false).await {
                    self.release().await;
                    tx.send_replace(false);
                    return;
                }
                let attempt =
                    tokio::time::timeout(c.timings.renew_deadline, self.try_acquire_or_renew())
                        .await;
                match attempt {
                    Ok(Ok(true)) => renewed = Instant::now(),
                    Ok(Ok(false)) => {
                        tracing::error!(
                            "the leader Lease was taken by another candidate; stepping down"
                        );
                        break;
                    }
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot renew the leader Lease"),
                    Err(_) => tracing::warn!("renewing the leader Lease timed out"),
                }
                if renewed.elapsed() >= c.timings.renew_deadline {
                    tracing::error!(deadline = ?c.timings.renew_deadline, "could not renew the leader Lease in time; stepping down");
                    break;
                }
            }
            tx.send_replace(false);
        }
    }

    /// Waits a retry period (jittered for candidates, as client-go does);
    /// `true` when told to stop.
    async fn pause(&self, stop: &CancellationToken, jitter: bool) -> bool {
        let base = self.candidate.timings.retry_period;
        let wait = if jitter {
            base + base.mul_f64(rand::random::<f64>() * 0.2)
        } else {
            base
        };
        tokio::select! {
            _ = stop.cancelled() => true,
            _ = tokio::time::sleep(wait) => false,
        }
    }

    fn our_spec(&self, previous: Option<&LeaseSpec>) -> LeaseSpec {
        let now = MicroTime(jiff::Timestamp::now());
        let me = &self.candidate.identity;
        let ours = previous.is_some_and(|p| p.holder_identity.as_deref() == Some(me.as_str()));
        let transitions = previous.and_then(|p| p.lease_transitions).unwrap_or(0);
        LeaseSpec {
            holder_identity: Some(me.clone()),
            lease_duration_seconds: Some(
                i32::try_from(self.candidate.timings.lease_duration.as_secs()).unwrap_or(i32::MAX),
            ),
            acquire_time: if ours {
                previous.and_then(|p| p.acquire_time.clone())
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if ours || previous.is_none() {
                transitions
            } else {
                transitions + 1
            }),
            ..LeaseSpec::default()
        }
    }

    /// client-go's `tryAcquireOrRenew`: whether we hold the Lease now.
    async fn try_acquire_or_renew(&mut self) -> Result<bool, kube::Error> {
        let name = self.candidate.lease_name.clone();
        let Some(mut lease) = self.api.get_opt(&name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name),
                    namespace: Some(self.candidate.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(self.our_spec(None)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observe(created.spec.unwrap_or_default());
                    Ok(true)
                }
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        self.observe(spec.clone());
        let me = self.candidate.identity.as_str();
        let holder = spec.holder_identity.as_deref().unwrap_or("");
        if !holder.is_empty() && holder != me && !self.expired(&spec) {
            return Ok(false);
        }
        lease.spec = Some(self.our_spec(Some(&spec)));
        // Conditional on the resourceVersion just read: a competing update wins 409.
        match self
            .api
            .replace(&name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                self.observe(updated.spec.unwrap_or_default());
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Notes the Lease as read; its observed time moves only when it changed.
    fn observe(&mut self, spec: LeaseSpec) {
        let changed = self.observed.as_ref().is_none_or(|(old, _)| *old != spec);
        if changed {
            self.observed = Some((spec, Instant::now()));
        }
    }

    /// Whether another holder's Lease has not changed for its duration.
    fn expired(&self, spec: &LeaseSpec) -> bool {
        let duration = spec
            .lease_duration_seconds
            .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
            .unwrap_or(self.candidate.timings.lease_duration);
        self.observed
            .as_ref()
            .is_none_or(|(_, at)| at.elapsed() >= duration)
    }

    /// Gives the Lease up so a standby can take it at once.
    async fn release(&mut self) {
        let name = self.candidate.lease_name.clone();
        let result = async {
            let Some(mut lease) = self.api.get_opt(&name).await? else {
                return Ok(false);
            };
            let spec = lease.spec.clone().unwrap_or_default();
            if spec.holder_identity.as_deref() != Some(self.candidate.identity.as_str()) {
                return Ok(false);
            }
            lease.spec = Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                renew_time: Some(MicroTime(jiff::Timestamp::now())),
                ..spec
            });
            self.api
                .replace(&name, &PostParams::default(), &lease)
                .await?;
            Ok::<_, kube::Error>(true)
        }
        .await;
        match result {
            Ok(true) => tracing::info!("released the leader Lease"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot release the leader Lease; a standby takes over when it expires")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_names_and_timings() {
        assert_eq!(lease_name(""), "megamon");
        assert_eq!(lease_name("blue"), "megamon-blue");
        assert_eq!(lease_name("-blue"), "megamon-blue");
        assert!(ElectionTimings::default().validate().is_ok());
        let bad = ElectionTimings {
            renew_deadline: Duration::from_secs(20),
            ..ElectionTimings::default()
        };
        assert!(bad.validate().unwrap_err().contains("lease duration"));
        let bad = ElectionTimings {
            retry_period: Duration::from_secs(10),
            ..ElectionTimings::default()
        };
        assert!(bad.validate().unwrap_err().contains("retry period"));
    }

    #[test]
    fn identities_differ_and_sole_leads() {
        assert_ne!(identity(), identity());
        let sole = Leadership::sole();
        assert!(sole.is_leader() && sole.is_alive());
    }
}
