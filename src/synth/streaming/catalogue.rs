//! The streaming dataset's vocabulary (the plan and device mixes are the
//! settings' defaults, in `project::synthetic`): each device's bandwidth and hours of use, the genres with their shares
//! and lengths, countries, age groups by plan, genders and the words titles
//! are made of.

/// Per device: mean and spread of bandwidth (Mbps) and the hours of the day
/// it is used most (a second, smaller peak for phones and tablets).
pub(super) struct DeviceProfile {
    pub(super) bandwidth_mean: f64,
    pub(super) bandwidth_sd: f64,
    /// Relative weight of each hour of the day.
    pub(super) hours: [f64; 24],
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

pub(super) fn device_profile(name: &str) -> DeviceProfile {
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
pub(super) const GENRES: &[(&str, f64, f64)] = &[
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

pub(super) const COUNTRIES: &[(&str, f64)] = &[
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

pub(super) const AGE_GROUPS: &[&str] = &["18-24", "25-34", "35-44", "45-54", "55+"];
/// Age mix by plan: students are young, family plans older.
pub(super) fn age_weights(plan: &str) -> [f64; 5] {
    match plan {
        "Student" => [0.82, 0.16, 0.02, 0.0, 0.0],
        "Family" => [0.03, 0.24, 0.43, 0.22, 0.08],
        "Premium" => [0.10, 0.33, 0.30, 0.17, 0.10],
        "Basic" => [0.26, 0.30, 0.19, 0.14, 0.11],
        _ => [0.17, 0.33, 0.24, 0.15, 0.11],
    }
}

pub(super) const GENDERS: &[(&str, f64)] = &[
    ("Female", 0.48),
    ("Male", 0.47),
    ("Non-binary", 0.02),
    ("Undisclosed", 0.03),
];

pub(super) const TITLE_ADJECTIVES: &[&str] = &[
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
pub(super) const TITLE_NOUNS: &[&str] = &[
    "Harbor", "Empire", "Garden", "Signal", "Horizon", "River", "Kingdom", "Echo", "Station",
    "Forest", "Machine", "Letters", "Crown", "Island", "Protocol", "Orchard", "Voyage", "Circuit",
    "Lantern", "Frontier", "Tide", "Archive", "Summit", "Carnival", "Compass", "Shadow", "Bridge",
    "Canyon", "Mirror", "Orbit",
];
