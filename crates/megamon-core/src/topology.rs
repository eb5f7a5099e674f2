//! TPU topology and machine-type parsing (SPEC §2.1, §2.3).

/// A topology or machine type that does not describe TPU hardware.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    #[error(
        "invalid TPU topology {0:?}: expected at least two positive integer dimensions separated by 'x', like \"2x2x4\""
    )]
    Topology(String),
    #[error(
        "cannot derive chips per node from machine type {0:?}: expected its last '-' segment to be a number followed by 't', like \"ct5lp-hightpu-4t\""
    )]
    MachineType(String),
    #[error("TPU topology {0:?} has more chips than MegaMon can count")]
    Overflow(String),
}

/// Number of chips in a topology: the product of its dimensions.
/// `chips("2x2x4") == 16`. At least two dimensions are required.
pub fn chips(topology: &str) -> Result<u64, TopologyError> {
    let invalid = || TopologyError::Topology(topology.to_string());
    let mut dims = 0usize;
    let mut product: u64 = 1;
    for part in topology.split('x') {
        // Reject signs and spaces that `parse` would otherwise accept or choke on.
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let n: u64 = part.parse().map_err(|_| invalid())?;
        if n == 0 {
            return Err(invalid());
        }
        product = product
            .checked_mul(n)
            .ok_or_else(|| TopologyError::Overflow(topology.to_string()))?;
        dims += 1;
    }
    if dims < 2 {
        return Err(invalid());
    }
    Ok(product)
}

/// Chips per node of a GKE TPU machine type: the integer before the trailing `t`
/// of its last `-` segment (`ct5lp-hightpu-4t` → 4, `tpu7x-standard-4t` → 4).
pub fn chips_per_node(machine_type: &str) -> Result<u64, TopologyError> {
    let invalid = || TopologyError::MachineType(machine_type.to_string());
    let last = machine_type.rsplit('-').next().ok_or_else(invalid)?;
    let digits = last.strip_suffix('t').ok_or_else(invalid)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chips_multiplies_dimensions() {
        assert_eq!(chips("2x2x4"), Ok(16));
        assert_eq!(chips("16x16"), Ok(256));
        assert_eq!(chips("8x8x8"), Ok(512));
        assert_eq!(chips("2x4"), Ok(8));
        assert_eq!(chips("1x1"), Ok(1));
    }

    #[test]
    fn chips_rejects_malformed_topologies() {
        for bad in [
            "", "4", "x", "2x", "x2", "2xx2", "2x-2", "2x+2", "2 x 2", "2X2", "axb", "2x0",
            "2x2.5", "２x2",
        ] {
            assert!(
                matches!(chips(bad), Err(TopologyError::Topology(_))),
                "{bad:?} should be invalid"
            );
        }
    }

    #[test]
    fn chips_reports_overflow_instead_of_panicking() {
        let huge = "4294967296x4294967296x4294967296";
        assert!(matches!(chips(huge), Err(TopologyError::Overflow(_))));
    }

    #[test]
    fn chips_per_node_from_machine_type() {
        assert_eq!(chips_per_node("ct5lp-hightpu-4t"), Ok(4));
        assert_eq!(chips_per_node("tpu7x-standard-4t"), Ok(4));
        assert_eq!(chips_per_node("ct5p-hightpu-8t"), Ok(8));
        assert_eq!(chips_per_node("ct6e-standard-1t"), Ok(1));
    }

    #[test]
    fn chips_per_node_rejects_non_tpu_machine_types() {
        for bad in [
            "",
            "n2-standard-4",
            "ct5lp-hightpu-t",
            "ct5lp-hightpu-0t",
            "4t-x",
            "-4",
        ] {
            assert!(chips_per_node(bad).is_err(), "{bad:?} should be invalid");
        }
        // The whole string is the last segment when there is no '-'.
        assert_eq!(chips_per_node("8t"), Ok(8));
    }

    #[test]
    fn spec_pool_sizes() {
        // SPEC §2.3: 16x16 with 4 → 64 nodes; 8x8x8 with 4 → 128; 2x4 with 8 → 1.
        let nodes = |t: &str, m: &str| chips(t).unwrap() / chips_per_node(m).unwrap();
        assert_eq!(nodes("16x16", "ct5lp-hightpu-4t"), 64);
        assert_eq!(nodes("8x8x8", "tpu7x-standard-4t"), 128);
        assert_eq!(nodes("2x4", "ct5p-hightpu-8t"), 1);
    }
}
