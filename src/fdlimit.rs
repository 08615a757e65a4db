//! The open-file limit at start: each connection is a file descriptor, so a connection cap
//! above `RLIMIT_NOFILE` would fail as `accept` errors (EMFILE) instead of the clean shedding
//! of a full server. Raise the soft limit as far as allowed, then fit the cap under it.

/// Descriptors kept for everything but client connections: the database, its WAL and
/// shared memory, reader connections, the listener, the runtime's own, the GitHub and
/// backup files, and the standard streams.
pub const MARGIN: u64 = 64;

/// The connection cap that fits `nofile` descriptors: `cap` when it fits with the margin,
/// else what is left after the margin (at least 1), with the warning to log.
pub fn fit(nofile: u64, cap: usize) -> (usize, Option<String>) {
    let wanted = u64::try_from(cap)
        .unwrap_or(u64::MAX)
        .saturating_add(MARGIN);
    if wanted <= nofile {
        return (cap, None);
    }
    let fitted = usize::try_from(nofile.saturating_sub(MARGIN))
        .unwrap_or(usize::MAX)
        .max(1);
    let warning = format!(
        "BOOKCHAT_MAX_CONNECTIONS={cap} needs about {wanted} file descriptors but the limit \
         (RLIMIT_NOFILE) is {nofile}: serving at most {fitted} connections; raise the limit \
         (ulimit -n, LimitNOFILE=) to allow more"
    );
    (fitted, Some(warning))
}

/// Raises the soft open-file limit to the hard limit where the system allows, and answers
/// the connection cap that fits it, logging one warning if `cap` had to be lowered.
pub fn apply(cap: usize) -> usize {
    let nofile = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(err) => {
            // Not raised: go on with whatever the soft limit is, if it can be read.
            log::debug!("cannot raise the open-file limit: {err}");
            match rlimit::Resource::NOFILE.get() {
                Ok((soft, _)) => soft,
                Err(err) => {
                    log::warn!("cannot read the open-file limit: {err}");
                    return cap;
                }
            }
        }
    };
    let (fitted, warning) = fit(nofile, cap);
    if let Some(warning) = warning {
        log::warn!("{warning}");
    }
    fitted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cap_that_fits_with_the_margin_is_kept_silently() {
        assert_eq!(fit(1_048_576, 1024), (1024, None));
        assert_eq!(fit(1024 + MARGIN, 1024), (1024, None));
    }

    #[test]
    fn a_cap_above_the_limit_is_lowered_with_one_warning_naming_both() {
        let (cap, warning) = fit(1024, 1024);
        assert_eq!(cap, 1024 - 64);
        let warning = warning.expect("a warning");
        assert!(
            warning.contains("1024") && warning.contains("960"),
            "{warning}"
        );
        assert_eq!(fit(1024 + MARGIN - 1, 1024).0, 1023);
    }

    #[test]
    fn a_tiny_limit_still_leaves_one_connection() {
        assert_eq!(fit(10, 1024).0, 1);
        assert_eq!(fit(0, 5).0, 1);
    }

    #[test]
    fn the_soft_limit_is_raised_and_a_modest_cap_survives() {
        // The process limit after `apply` is what `fit` saw: a cap far below it is kept.
        let before = rlimit::Resource::NOFILE.get().unwrap();
        assert_eq!(apply(16), 16);
        let after = rlimit::Resource::NOFILE.get().unwrap();
        assert!(
            after.0 >= before.0 && after.1 == before.1,
            "{before:?} {after:?}"
        );
    }
}
