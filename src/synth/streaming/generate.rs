//! The rows: users drawn chunk by chunk, the content library, each chunk of
//! viewing events, and the Arrow batches they are handed over in. The order
//! of the random draws is the dataset: each row takes its numbers from its
//! chunk's stream in a fixed order.

use std::sync::Arc;

use chrono::Datelike;
use duckdb::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray,
    StructArray, TimestampMicrosecondArray,
};
use duckdb::arrow::record_batch::RecordBatch;

use super::catalogue::{
    AGE_GROUPS, COUNTRIES, GENDERS, GENRES, TITLE_ADJECTIVES, TITLE_NOUNS, age_weights,
};
use super::schema::{
    batch, content_schema, days_from_epoch, engagement_fields, events_schema, quality_fields,
    users_schema,
};
use super::{
    CHUNK_ROWS, COMPLETION_BANDWIDTH_EFFECT, COMPLETION_SD, Content, EventChunk, RATED_SHARE,
    STREAM_CONTENT, STREAM_EVENTS, STREAM_USERS, StreamingSettings, Universe, Users,
};
use crate::synth::sample::{Rng, Weighted, apportion};

impl Universe {
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

pub(super) fn user_chunk(settings: &StreamingSettings, chunk: u64) -> Users {
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

pub(super) fn generate_content(settings: &StreamingSettings) -> Content {
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
pub(super) fn shuffle<T>(items: &mut [T], rng: &mut Rng) {
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
