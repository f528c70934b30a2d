//! Sample decay: when a sample stops being worth processing, and how urgent it is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::time::{Span, Timestamp};

/// How urgent a sample is; later variants go first.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum Priority {
    #[default]
    Normal,
    Urgent,
    Clinical,
}

impl Priority {
    /// 0 for normal, 1 for urgent, 2 for clinical.
    pub fn tier(self) -> i64 {
        match self {
            Priority::Normal => 0,
            Priority::Urgent => 1,
            Priority::Clinical => 2,
        }
    }
}

impl FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Priority, String> {
        match s {
            "normal" => Ok(Priority::Normal),
            "urgent" => Ok(Priority::Urgent),
            "clinical" => Ok(Priority::Clinical),
            other => Err(format!(
                "priority `{other}` is not one of: normal, urgent, clinical"
            )),
        }
    }
}

impl Priority {
    /// Its name, as in files, the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::Urgent => "urgent",
            Priority::Clinical => "clinical",
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the scheduler knows about one sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleProfile {
    pub id: String,
    pub collected_at: Option<Timestamp>,
    /// When the sample is spoiled: `expires_at`, or `collected_at` plus the
    /// stability window, whichever is earlier. `None`: it does not decay.
    pub deadline: Option<Timestamp>,
    pub priority: Priority,
    /// Who the sample belongs to (a research group): with a fair share set
    /// ([`super::Config::owner_share_percent`]), one owner holds at most that
    /// share of a class's places. `None`: no share applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

impl SampleProfile {
    /// A sample with the given decay.
    pub fn new(
        id: impl Into<String>,
        priority: Priority,
        collected_at: Option<Timestamp>,
        expires_at: Option<Timestamp>,
        stability: Option<Span>,
    ) -> SampleProfile {
        let from_window = collected_at.zip(stability).map(|(c, s)| c + s);
        let deadline = match (expires_at, from_window) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        SampleProfile {
            id: id.into(),
            collected_at,
            deadline,
            priority,
            owner: None,
        }
    }

    /// The same sample, belonging to `owner`.
    pub fn owned_by(self, owner: Option<String>) -> SampleProfile {
        SampleProfile { owner, ..self }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn deadline_is_the_earlier_of_expiry_and_stability_window() {
        let collected = Timestamp::parse_rfc3339("2026-11-20T08:00:00Z").unwrap();
        let expires = Timestamp::parse_rfc3339("2026-11-21T00:00:00Z").unwrap();
        let p = SampleProfile::new(
            "s1",
            Priority::Urgent,
            Some(collected),
            Some(expires),
            Some(Span::from_secs_f64(12.0 * 3_600.0)),
        );
        assert_eq!(
            p.deadline.unwrap().to_rfc3339(),
            "2026-11-20T20:00:00Z",
            "collected + 12 h is earlier than expires_at"
        );
        let open = SampleProfile::new("s2", Priority::Normal, None, None, Some(Span::HOUR));
        assert_eq!(open.deadline, None, "a window needs a collection time");
    }
}
