//! Numbers a step measures (retries, lost updates, a listing's lag, a block's size and time)
//! and how each combines when a check gets it from several steps or clients: a kind belongs
//! to the measurement, so a new one cannot be summed (or overwritten) by mistake.

/// How values of one measurement combine within a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Combine {
    /// A count: the check reports the sum over steps and clients.
    Sum,
    /// A value: the check reports the latest one.
    Latest,
}

/// One measured number.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub name: &'static str,
    pub value: f64,
    pub combine: Combine,
}

impl Measurement {
    /// A count (summed over steps and clients), e.g. `lost_updates`.
    pub fn count(name: &'static str, value: f64) -> Measurement {
        Measurement { name, value, combine: Combine::Sum }
    }

    /// A value (the latest one is reported), e.g. `visibility_lag_ms`.
    pub fn value(name: &'static str, value: f64) -> Measurement {
        Measurement { name, value, combine: Combine::Latest }
    }

    /// Adds this measurement to a check's numbers.
    pub fn add_to(&self, into: &mut std::collections::BTreeMap<String, f64>) {
        match self.combine {
            Combine::Sum => *into.entry(self.name.to_string()).or_insert(0.0) += self.value,
            Combine::Latest => {
                into.insert(self.name.to_string(), self.value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_and_values_keep_the_latest() {
        let mut m = std::collections::BTreeMap::new();
        for x in [Measurement::count("lost_updates", 2.0), Measurement::count("lost_updates", 3.0)] {
            x.add_to(&mut m);
        }
        for x in [Measurement::value("visibility_lag_ms", 40.0), Measurement::value("visibility_lag_ms", 7.0)] {
            x.add_to(&mut m);
        }
        assert_eq!(m["lost_updates"], 5.0);
        assert_eq!(m["visibility_lag_ms"], 7.0);
    }
}
