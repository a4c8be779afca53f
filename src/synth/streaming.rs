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

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use duckdb::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    StructArray, TimestampMicrosecondArray,
};
use duckdb::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use duckdb::arrow::record_batch::RecordBatch;

use super::sample::{AliasTable, Rng, Weighted, apportion, clamped_normal_centre};
use crate::project::synthetic::StreamingSettings;

/// Users are drawn in chunks of this many, each from its own random stream.
pub const CHUNK_ROWS: u64 = 65_536;

/// Events are drawn in slices of this many (DuckDB's vector size), each from
/// its own random stream, so the warehouse can pull them in any order.
pub const EVENT_SLICE_ROWS: u64 = crate::adapter::MAX_SLICE_ROWS as u64;

/// Stream identifiers: one per table, so tables never share random numbers.
const STREAM_USERS: u64 = 1;
const STREAM_CONTENT: u64 = 2;
const STREAM_EVENTS: u64 = 3;

/// Per device: mean and spread of bandwidth (Mbps) and the hours of the day
/// it is used most (a second, smaller peak for phones and tablets).
struct DeviceProfile {
    bandwidth_mean: f64,
    bandwidth_sd: f64,
    /// Relative weight of each hour of the day.
    hours: [f64; 24],
}

const EVENING: [f64; 24] = [
    1.2, 0.7, 0.4, 0.25, 0.2, 0.25, 0.4, 0.7, 0.9, 1.0, 1.1, 1.2, 1.4, 1.4, 1.4, 1.6, 2.0, 2.6,
    3.4, 4.4, 5.0, 4.8, 3.8, 2.4,
];
const ON_THE_GO: [f64; 24] = [
    1.0, 0.6, 0.35, 0.2, 0.2, 0.4, 1.2, 2.4, 2.6, 1.6, 1.4, 1.8, 2.6, 2.2, 1.6, 1.6, 2.0, 2.6, 2.8,
    3.0, 3.2, 3.2, 2.8, 1.8,
];
const DAYTIME: [f64; 24] = [
    0.8, 0.5, 0.3, 0.2, 0.2, 0.3, 0.6, 1.2, 1.8, 2.2, 2.4, 2.4, 2.6, 2.6, 2.4, 2.4, 2.4, 2.4, 2.4,
    2.6, 2.6, 2.2, 1.8, 1.2,
];
const LATE: [f64; 24] = [
    2.4, 1.8, 1.2, 0.6, 0.3, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0, 1.1, 1.3, 1.7, 2.3, 2.8, 3.2,
    3.8, 4.4, 4.6, 4.2, 3.2,
];

fn device_profile(name: &str) -> DeviceProfile {
    let (bandwidth_mean, bandwidth_sd, hours) = match name {
        "Smart TV" => (36.1, 9.0, EVENING),
        "Desktop" => (42.0, 11.0, DAYTIME),
        "Mobile" => (26.3, 8.0, ON_THE_GO),
        "Tablet" => (29.5, 8.5, ON_THE_GO),
        "Gaming Console" => (45.0, 12.0, LATE),
        "Streaming Stick" => (31.0, 8.5, EVENING),
        // A device named in project.yml that the design does not know.
        _ => (30.0, 9.0, EVENING),
    };
    DeviceProfile {
        bandwidth_mean,
        bandwidth_sd,
        hours,
    }
}

/// The 14 genres with their share of the library (200 titles in the design:
/// Animation 23, Thriller 21, 13 each for the rest) and typical length.
const GENRES: &[(&str, f64, f64)] = &[
    ("Animation", 23.0, 84.0),
    ("Thriller", 21.0, 98.0),
    ("Action", 13.0, 104.0),
    ("Adventure", 13.0, 101.0),
    ("Comedy", 13.0, 91.0),
    ("Crime", 13.0, 99.0),
    ("Documentary", 13.0, 76.0),
    ("Drama", 13.0, 102.0),
    ("Family", 13.0, 86.0),
    ("Fantasy", 13.0, 103.0),
    ("Horror", 13.0, 88.0),
    ("Mystery", 13.0, 97.0),
    ("Romance", 13.0, 94.0),
    ("Sci-Fi", 13.0, 104.0),
];

const COUNTRIES: &[(&str, f64)] = &[
    ("US", 0.34),
    ("GB", 0.09),
    ("CA", 0.06),
    ("DE", 0.08),
    ("FR", 0.07),
    ("BR", 0.09),
    ("IN", 0.10),
    ("MX", 0.06),
    ("JP", 0.05),
    ("AU", 0.04),
    ("ES", 0.02),
];

const AGE_GROUPS: &[&str] = &["18-24", "25-34", "35-44", "45-54", "55+"];
/// Age mix by plan: students are young, family plans older.
fn age_weights(plan: &str) -> [f64; 5] {
    match plan {
        "Student" => [0.82, 0.16, 0.02, 0.0, 0.0],
        "Family" => [0.03, 0.24, 0.43, 0.22, 0.08],
        "Premium" => [0.10, 0.33, 0.30, 0.17, 0.10],
        "Basic" => [0.26, 0.30, 0.19, 0.14, 0.11],
        _ => [0.17, 0.33, 0.24, 0.15, 0.11],
    }
}

const GENDERS: &[(&str, f64)] = &[
    ("Female", 0.48),
    ("Male", 0.47),
    ("Non-binary", 0.02),
    ("Undisclosed", 0.03),
];

const TITLE_ADJECTIVES: &[&str] = &[
    "Silent",
    "Crimson",
    "Hidden",
    "Broken",
    "Golden",
    "Last",
    "Midnight",
    "Frozen",
    "Wild",
    "Lost",
    "Electric",
    "Hollow",
    "Distant",
    "Burning",
    "Secret",
    "Quiet",
    "Endless",
    "Scarlet",
    "Iron",
    "Paper",
    "Velvet",
    "Northern",
    "Shattered",
    "Bright",
    "Restless",
    "Falling",
    "Sunken",
    "Painted",
    "Wandering",
    "Final",
];
const TITLE_NOUNS: &[&str] = &[
    "Harbor", "Empire", "Garden", "Signal", "Horizon", "River", "Kingdom", "Echo", "Station",
    "Forest", "Machine", "Letters", "Crown", "Island", "Protocol", "Orchard", "Voyage", "Circuit",
    "Lantern", "Frontier", "Tide", "Archive", "Summit", "Carnival", "Compass", "Shadow", "Bridge",
    "Canyon", "Mirror", "Orbit",
];

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

    /// The `users` table, in batches of at most [`CHUNK_ROWS`].
    pub fn user_batches(&self) -> Vec<RecordBatch> {
        let total = self.users.signup_day.len();
        let step = usize::try_from(CHUNK_ROWS).unwrap_or(usize::MAX);
        (0..total)
            .step_by(step)
            .map(|from| self.user_batch(from, (from + step).min(total)))
            .collect()
    }

    fn user_batch(&self, from: usize, to: usize) -> RecordBatch {
        let u = &self.users;
        let start = days_from_epoch(self.settings.start_date);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(
                (from..to).map(|i| i as i64 + 1),
            )),
            Arc::new(Date32Array::from_iter_values(
                (from..to).map(|i| start + u.signup_day[i]),
            )),
            Arc::new(StringArray::from_iter_values(
                (from..to).map(|i| self.settings.plans[u.plan[i] as usize].0.as_str()),
            )),
            Arc::new(StringArray::from_iter_values(
                (from..to).map(|i| COUNTRIES[u.country[i] as usize].0),
            )),
            Arc::new(StringArray::from_iter_values(
                (from..to).map(|i| AGE_GROUPS[u.age_group[i] as usize]),
            )),
            Arc::new(StringArray::from_iter_values(
                (from..to).map(|i| GENDERS[u.gender[i] as usize].0),
            )),
            Arc::new(
                (from..to)
                    .map(|i| Some(u.is_active[i]))
                    .collect::<BooleanArray>(),
            ),
        ];
        batch(users_schema(), columns)
    }

    /// The `content` table (one batch: titles number in the thousands at most).
    pub fn content_batches(&self) -> Vec<RecordBatch> {
        let c = &self.content;
        let n = c.title.len();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values((0..n).map(|i| i as i64 + 1))),
            Arc::new(StringArray::from_iter_values(c.title.iter())),
            Arc::new(StringArray::from_iter_values(
                c.genre.iter().map(|&g| GENRES[g as usize].0),
            )),
            Arc::new(Int32Array::from(c.release_year.clone())),
            Arc::new(Int32Array::from(c.duration.clone())),
            Arc::new(StringArray::from_iter_values(c.maturity.iter().copied())),
        ];
        vec![batch(content_schema(), columns)]
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

    /// Generates one chunk of events.
    pub fn event_batch(&self, chunk: &EventChunk) -> RecordBatch {
        let stream_index = (u64::from_ne_bytes(chunk.day.to_ne_bytes()) << 16) ^ chunk.part;
        let mut rng = Rng::derive(self.settings.seed, STREAM_EVENTS, stream_index);
        let rows = usize::try_from(chunk.rows).unwrap_or(0);
        let mut ids = Vec::with_capacity(rows);
        let mut stamps = Vec::with_capacity(rows);
        let mut user_ids = Vec::with_capacity(rows);
        let mut content_ids = Vec::with_capacity(rows);
        let mut devices = Vec::with_capacity(rows);
        let mut minutes = Vec::with_capacity(rows);
        let mut buffering = Vec::with_capacity(rows);
        let mut bandwidth = Vec::with_capacity(rows);
        let mut frames = Vec::with_capacity(rows);
        let mut completion = Vec::with_capacity(rows);
        let mut rating = Vec::with_capacity(rows);

        let day = i32::try_from(chunk.day).unwrap_or(i32::MAX);
        let day_start_micros =
            (i64::from(days_from_epoch(self.settings.start_date)) + chunk.day) * 86_400_000_000;

        // The first user signed up before the window: someone is always eligible.
        let mut viewers = Vec::with_capacity(rows);
        self.viewers
            .pick_many_by_day(&mut rng, day, rows, &mut viewers);
        for (row, &user) in viewers.iter().enumerate() {
            ids.push(chunk.first_id + row as i64);
            user_ids.push(user as i64 + 1);
            let title = self.popularity.pick(&mut rng);
            content_ids.push(title as i64 + 1);
            let device = self.device_pick.pick(&mut rng);
            let profile = &self.devices[device];
            devices.push(device);

            let hour = self.hour_picks[device].pick(&mut rng) as i64;
            let within_hour = i64::try_from(rng.below(3_600_000_000)).unwrap_or(0);
            stamps.push(day_start_micros + hour * 3_600_000_000 + within_hour);

            let z_bandwidth = rng.normal().clamp(-3.5, 3.5);
            let mbps = (profile.bandwidth_mean + profile.bandwidth_sd * z_bandwidth).max(0.5);
            let mut done = self.completion_centre
                + COMPLETION_SD * rng.normal()
                + COMPLETION_BANDWIDTH_EFFECT * z_bandwidth;
            done = done.clamp(0.0, 1.0);
            let length = f64::from(self.content.duration[title]);
            let watched = round_to(done * length, 1);
            // Low bandwidth: more stalls and dropped frames.
            let starved = libm::exp(-mbps / 10.0);
            let stall_rate = (0.25 + 7.0 * starved) * (0.4 + watched / 90.0);
            let stalls = rng.poisson(stall_rate);
            let dropped = 0.15 + 5.0 * starved + 0.5 * rng.unit();

            minutes.push(watched);
            bandwidth.push(round_to(mbps, 2));
            buffering.push(i32::try_from(stalls).unwrap_or(i32::MAX));
            frames.push(round_to(dropped, 3));
            completion.push(round_to(done, 4));
            rating.push(if rng.chance(RATED_SHARE) {
                let stars = (1.0 + 4.0 * done + 0.6 * rng.normal())
                    .round()
                    .clamp(1.0, 5.0);
                #[allow(clippy::cast_possible_truncation)]
                Some(stars as i32)
            } else {
                None
            });
        }

        let quality = StructArray::new(
            quality_fields(),
            vec![
                Arc::new(Int32Array::from(buffering)) as ArrayRef,
                Arc::new(Float64Array::from(bandwidth)),
                Arc::new(Float64Array::from(frames)),
            ],
            None,
        );
        let engagement = StructArray::new(
            engagement_fields(),
            vec![
                Arc::new(Float64Array::from(completion)) as ArrayRef,
                Arc::new(Int32Array::from(rating)),
            ],
            None,
        );
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ids)),
            Arc::new(TimestampMicrosecondArray::from(stamps)),
            Arc::new(Int64Array::from(user_ids)),
            Arc::new(Int64Array::from(content_ids)),
            Arc::new(StringArray::from_iter_values(
                devices.iter().map(|&d| self.settings.devices[d].0.as_str()),
            )),
            Arc::new(Float64Array::from(minutes)),
            Arc::new(quality),
            Arc::new(engagement),
        ];
        batch(events_schema(), columns)
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

fn user_chunk(settings: &StreamingSettings, chunk: u64) -> Users {
    let mut rng = Rng::derive(settings.seed, STREAM_USERS, chunk);
    let from = chunk * CHUNK_ROWS;
    let to = (from + CHUNK_ROWS).min(settings.users);
    let n = usize::try_from(to - from).unwrap_or(0);
    let plans = Weighted::new(settings.plans.iter().map(|(_, s)| *s));
    let countries = Weighted::new(COUNTRIES.iter().map(|(_, s)| *s));
    let genders = Weighted::new(GENDERS.iter().map(|(_, s)| *s));
    let ages: Vec<Weighted> = settings
        .plans
        .iter()
        .map(|(name, _)| Weighted::new(age_weights(name)))
        .collect();
    let window = i64::from(settings.days.max(1));
    let mut users = Users {
        signup_day: Vec::with_capacity(n),
        plan: Vec::with_capacity(n),
        country: Vec::with_capacity(n),
        age_group: Vec::with_capacity(n),
        gender: Vec::with_capacity(n),
        is_active: Vec::with_capacity(n),
        activity: Vec::with_capacity(n),
    };
    for id in from..to {
        // Three in four users joined in the two years before the window,
        // the rest during it; the very first user always before, so every
        // day has someone to watch.
        let joined_before = id == 0 || rng.chance(0.75);
        let day = if joined_before {
            -1 - i64::try_from(rng.below(730)).unwrap_or(0)
        } else {
            i64::try_from(rng.below(u64::try_from(window).unwrap_or(1))).unwrap_or(0)
        };
        let plan = plans.pick(&mut rng);
        let active = rng.chance(0.86);
        // Log-normal activity: a few heavy viewers, a long tail of light ones.
        let mut activity = libm::exp(1.1 * rng.normal());
        if !active {
            activity *= 0.15;
        }
        users.signup_day.push(i32::try_from(day).unwrap_or(0));
        users.plan.push(u8::try_from(plan).unwrap_or(0));
        users
            .country
            .push(u8::try_from(countries.pick(&mut rng)).unwrap_or(0));
        users
            .age_group
            .push(u8::try_from(ages[plan].pick(&mut rng)).unwrap_or(0));
        users
            .gender
            .push(u8::try_from(genders.pick(&mut rng)).unwrap_or(0));
        users.is_active.push(active);
        users.activity.push(activity);
    }
    users
}

fn generate_content(settings: &StreamingSettings) -> Content {
    let mut rng = Rng::derive(settings.seed, STREAM_CONTENT, 0);
    let shares: Vec<f64> = GENRES.iter().map(|(_, share, _)| *share).collect();
    let counts = apportion(settings.content, &shares);
    let mut genres: Vec<u8> = counts
        .iter()
        .enumerate()
        .flat_map(|(g, &count)| {
            std::iter::repeat_n(
                u8::try_from(g).unwrap_or(0),
                usize::try_from(count).unwrap_or(0),
            )
        })
        .collect();
    shuffle(&mut genres, &mut rng);
    let year = settings.start_date.year();
    let mut seen = std::collections::HashMap::<String, u32>::new();
    let mut content = Content {
        title: Vec::with_capacity(genres.len()),
        genre: Vec::with_capacity(genres.len()),
        release_year: Vec::with_capacity(genres.len()),
        duration: Vec::with_capacity(genres.len()),
        maturity: Vec::with_capacity(genres.len()),
    };
    for &genre in &genres {
        let (name, _, length) = GENRES[genre as usize];
        let adjective = TITLE_ADJECTIVES
            [usize::try_from(rng.below(TITLE_ADJECTIVES.len() as u64)).unwrap_or(0)];
        let noun = TITLE_NOUNS[usize::try_from(rng.below(TITLE_NOUNS.len() as u64)).unwrap_or(0)];
        let base = format!("The {adjective} {noun}");
        let seen_before = seen.entry(base.clone()).or_insert(0);
        *seen_before += 1;
        let title = match *seen_before {
            1 => base,
            n => format!("{base} {}", roman(n)),
        };
        // Recent titles dominate a streaming library.
        #[allow(clippy::cast_possible_truncation)]
        let age = (-9.0 * libm::log(1.0 - rng.unit())).min(60.0) as i32;
        #[allow(clippy::cast_possible_truncation)]
        let minutes = (length + 14.0 * rng.normal()).round().clamp(22.0, 210.0) as i32;
        content.title.push(title);
        content.genre.push(genre);
        content.release_year.push(year - age);
        content.duration.push(minutes);
        content.maturity.push(maturity(name, &mut rng));
    }
    content
}

fn maturity(genre: &str, rng: &mut Rng) -> &'static str {
    const RATINGS: [&str; 5] = ["G", "PG", "PG-13", "R", "NC-17"];
    let weights: [f64; 5] = match genre {
        "Animation" | "Family" => [0.45, 0.45, 0.10, 0.0, 0.0],
        "Horror" => [0.0, 0.02, 0.30, 0.63, 0.05],
        "Thriller" | "Crime" => [0.0, 0.05, 0.45, 0.48, 0.02],
        "Documentary" => [0.25, 0.45, 0.25, 0.05, 0.0],
        "Romance" | "Comedy" => [0.02, 0.25, 0.53, 0.20, 0.0],
        _ => [0.02, 0.18, 0.60, 0.20, 0.0],
    };
    RATINGS[Weighted::new(weights).pick(rng)]
}

fn roman(n: u32) -> String {
    match n {
        2 => "II".into(),
        3 => "III".into(),
        4 => "IV".into(),
        5 => "V".into(),
        n => n.to_string(),
    }
}

/// Fisher–Yates with the stream's own integers.
fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
    for i in (1..items.len()).rev() {
        let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = match decimals {
        1 => 10.0,
        2 => 100.0,
        3 => 1_000.0,
        4 => 10_000.0,
        _ => libm::pow(10.0, f64::from(decimals)),
    };
    (value * scale).round() / scale
}

/// Days from 1970-01-01 (Arrow's Date32).
pub fn days_from_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(0)
}

fn batch(schema: SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    // The columns are built to match the schemas below; a mismatch is a bug
    // in this module, caught by its tests.
    RecordBatch::try_new(schema, columns).unwrap_or_else(|err| panic!("synthesizer batch: {err}"))
}

pub fn users_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("signup_date", DataType::Date32, false),
        Field::new("plan", DataType::Utf8, false),
        Field::new("country", DataType::Utf8, false),
        Field::new("age_group", DataType::Utf8, false),
        Field::new("gender", DataType::Utf8, false),
        Field::new("is_active", DataType::Boolean, false),
    ]))
}

pub fn content_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("content_id", DataType::Int64, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("genre", DataType::Utf8, false),
        Field::new("release_year", DataType::Int32, false),
        Field::new("duration_minutes", DataType::Int32, false),
        Field::new("maturity_rating", DataType::Utf8, false),
    ]))
}

fn quality_fields() -> Fields {
    Fields::from(vec![
        Field::new("buffering_events", DataType::Int32, false),
        Field::new("bandwidth_mbps", DataType::Float64, false),
        Field::new("frames_dropped", DataType::Float64, false),
    ])
}

fn engagement_fields() -> Fields {
    Fields::from(vec![
        Field::new("completion_rate", DataType::Float64, false),
        Field::new("rating", DataType::Int32, true),
    ])
}

pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("event_id", DataType::Int64, false),
        Field::new(
            "timestamp",
            DataType::Timestamp(TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("user_id", DataType::Int64, false),
        Field::new("content_id", DataType::Int64, false),
        Field::new("device_type", DataType::Utf8, false),
        Field::new("watch_minutes", DataType::Float64, false),
        Field::new("quality_metrics", DataType::Struct(quality_fields()), false),
        Field::new(
            "engagement_signals",
            DataType::Struct(engagement_fields()),
            false,
        ),
    ]))
}
