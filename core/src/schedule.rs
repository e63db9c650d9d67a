//! How a cron schedule behaves when ticks were missed or a run is still going.

crate::text_enum! {
    /// Ticks that passed while no node ran the schedule (downtime).
    pub enum MissedTicks ("missed-ticks policy") {
        /// Fire the latest missed tick once.
        Once = "once",
        /// Fire none of them.
        Skip = "skip",
    }
}

crate::text_enum! {
    /// A tick that comes while the schedule's previous run is still going.
    pub enum Overlap ("overlap policy") {
        /// Skip the new tick (recorded as skipped-overlap).
        Skip = "skip",
        /// Run both.
        Allow = "allow",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_round_trip_and_unknown_spellings_are_named() {
        for p in MissedTicks::ALL {
            assert_eq!(p.as_str().parse::<MissedTicks>(), Ok(p));
        }
        for p in Overlap::ALL {
            assert_eq!(p.to_string().parse::<Overlap>(), Ok(p));
        }
        let err = "twice".parse::<MissedTicks>().unwrap_err();
        assert_eq!(
            err.0,
            "unknown missed-ticks policy \"twice\"; expected one of: once, skip"
        );
    }
}
