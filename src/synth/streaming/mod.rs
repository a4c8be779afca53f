//! The streaming-service dataset: users with plans and demographics, a
//! content library across 14 genres, and viewing events with nested quality
//! metrics and engagement signals. Every table is generated in chunks, each
//! chunk from its own random stream derived from the seed, the table and the
//! chunk's position, so the rows do not depend on how many threads draw them
//! or in which order.
//!
//! The shape follows the design's published figures (plan mix, genre counts,
//! device shares, bandwidth and completion by device) and adds what makes the
//! data worth analysing: a popularity long tail over titles, an activity long
//! tail over users, daily and weekly rhythm, no event before its user's
//! signup, low bandwidth causing buffering and early exits, and ratings that
//! follow completion.
//!
//! This module owns the settings, the in-memory universe of users and
//! titles, and the plan of event chunks; the vocabulary lives in
//! `catalogue`, the rows in `generate` and the Arrow schemas in `schema`.

mod catalogue;
mod generate;
mod schema;

use chrono::Datelike;

use super::sample::{AliasTable, Rng, apportion, clamped_normal_centre};
pub use crate::project::synthetic::StreamingSettings;
use catalogue::{DeviceProfile, device_profile};
use generate::{generate_content, shuffle, user_chunk};
pub use schema::{content_schema, days_from_epoch, events_schema, users_schema};

/// Users are drawn in chunks of this many, each from its own random stream.
pub const CHUNK_ROWS: u64 = 65_536;

/// Events are drawn in slices of this many (DuckDB's vector size), each from
/// its own random stream, so the warehouse can pull them in any order.
pub const EVENT_SLICE_ROWS: u64 = crate::adapter::MAX_SLICE_ROWS as u64;

/// Stream identifiers: one per table, so tables never share random numbers.
const STREAM_USERS: u64 = 1;
const STREAM_CONTENT: u64 = 2;
const STREAM_EVENTS: u64 = 3;

/// Users and titles, kept in memory: events sample them.
pub struct Universe {
    settings: StreamingSettings,
    users: Users,
    content: Content,
    /// Viewers by activity, restricted on each day to those signed up.
    viewers: AliasTable,
    popularity: AliasTable,
    devices: Vec<DeviceProfile>,
    device_pick: AliasTable,
    hour_picks: Vec<AliasTable>,
    completion_centre: f64,
}

struct Users {
    /// Days since `start_date` (negative: before the window).
    signup_day: Vec<i32>,
    plan: Vec<u8>,
    country: Vec<u8>,
    age_group: Vec<u8>,
    gender: Vec<u8>,
    is_active: Vec<bool>,
    activity: Vec<f64>,
}

struct Content {
    title: Vec<String>,
    genre: Vec<u8>,
    release_year: Vec<i32>,
    duration: Vec<i32>,
    maturity: Vec<&'static str>,
}

/// Spread of a viewing's completion around its centre; the bandwidth term
/// adds to it (see `completion_centre`).
const COMPLETION_SD: f64 = 0.25;
const COMPLETION_BANDWIDTH_EFFECT: f64 = 0.08;
/// The design's mean completion, the same on every device.
const COMPLETION_MEAN: f64 = 0.618;
/// Share of viewings the viewer rates.
const RATED_SHARE: f64 = 0.35;

impl Universe {
    /// Generates users and titles (in parallel chunks) and the lookup tables
    /// events are drawn from.
    pub fn new(settings: &StreamingSettings, pool: &rayon::ThreadPool) -> Self {
        use rayon::prelude::*;
        let chunks = settings.users.div_ceil(CHUNK_ROWS);
        let parts: Vec<Users> = pool.install(|| {
            (0..chunks)
                .into_par_iter()
                .map(|chunk| user_chunk(settings, chunk))
                .collect()
        });
        let mut users = Users {
            signup_day: Vec::new(),
            plan: Vec::new(),
            country: Vec::new(),
            age_group: Vec::new(),
            gender: Vec::new(),
            is_active: Vec::new(),
            activity: Vec::new(),
        };
        for part in parts {
            users.signup_day.extend(part.signup_day);
            users.plan.extend(part.plan);
            users.country.extend(part.country);
            users.age_group.extend(part.age_group);
            users.gender.extend(part.gender);
            users.is_active.extend(part.is_active);
            users.activity.extend(part.activity);
        }
        let content = generate_content(settings);

        let viewers = AliasTable::new(&users.activity, &users.signup_day);
        // Popularity: Zipf-like weights over a random ranking of the titles.
        let mut rng = Rng::derive(settings.seed, STREAM_CONTENT, u64::MAX);
        let count = content.title.len();
        let mut rank: Vec<usize> = (0..count).collect();
        shuffle(&mut rank, &mut rng);
        #[allow(clippy::cast_precision_loss)]
        let popularity = AliasTable::from_weights(
            &rank
                .iter()
                .map(|&r| 1.0 / libm::pow(r as f64 + 1.0, 0.95))
                .collect::<Vec<_>>(),
        );

        let devices: Vec<DeviceProfile> = settings
            .devices
            .iter()
            .map(|(name, _)| device_profile(name))
            .collect();
        let device_pick = AliasTable::from_weights(
            &settings
                .devices
                .iter()
                .map(|(_, share)| *share)
                .collect::<Vec<_>>(),
        );
        let hour_picks = devices
            .iter()
            .map(|d| AliasTable::from_weights(&d.hours))
            .collect();
        let total_sd = libm::sqrt(
            COMPLETION_SD * COMPLETION_SD
                + COMPLETION_BANDWIDTH_EFFECT * COMPLETION_BANDWIDTH_EFFECT,
        );
        Self {
            settings: settings.clone(),
            users,
            content,
            viewers,
            popularity,
            devices,
            device_pick,
            hour_picks,
            completion_centre: clamped_normal_centre(COMPLETION_MEAN, total_sd),
        }
    }

    pub fn settings(&self) -> &StreamingSettings {
        &self.settings
    }

    /// The chunks of `viewing_events` for days `first_day..first_day + days`
    /// (days counted from `start_date`), with event ids from `first_id`.
    /// `total` events are spread over the days by the weekly rhythm.
    pub fn event_plan(
        &self,
        first_day: i64,
        days: u32,
        total: u64,
        first_id: i64,
    ) -> Vec<EventChunk> {
        let start_weekday = i64::from(self.settings.start_date.weekday().num_days_from_monday());
        let weights: Vec<f64> = (0..i64::from(days))
            .map(|offset| {
                let day = first_day + offset;
                let weekday = (start_weekday + day).rem_euclid(7);
                // Friday to Sunday are busier; a gentle growth over time.
                let weekly = match weekday {
                    4 => 1.15,
                    5 => 1.3,
                    6 => 1.25,
                    _ => 1.0,
                };
                #[allow(clippy::cast_precision_loss)]
                let growth = 1.0 + 0.002 * day as f64;
                weekly * growth
            })
            .collect();
        let per_day = apportion(total, &weights);
        let mut chunks = Vec::new();
        let mut next_id = first_id;
        for (offset, &count) in per_day.iter().enumerate() {
            let day = first_day + offset as i64;
            let parts = count.div_ceil(EVENT_SLICE_ROWS);
            for part in 0..parts {
                let rows = (count - part * EVENT_SLICE_ROWS).min(EVENT_SLICE_ROWS);
                chunks.push(EventChunk {
                    day,
                    part,
                    rows,
                    first_id: next_id,
                });
                next_id += i64::try_from(rows).unwrap_or(i64::MAX);
            }
        }
        chunks
    }
}

/// One chunk of events: part `part` of day `day`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventChunk {
    pub day: i64,
    pub part: u64,
    pub rows: u64,
    pub first_id: i64,
}
