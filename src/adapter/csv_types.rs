//! The column types of a CSV seed, inferred as dbt infers them, so that a
//! seed has the same columns under sb as under dbt on the same warehouse.
//!
//! dbt reads a seed into an agate table whose type tester tries, per column
//! and in this order: integer (only a column with no cells at all), number,
//! date (`%Y-%m-%d`), datetime (`%Y-%m-%d %H:%M:%S`), ISO 8601 datetime
//! (`2020-01-02T03:04:05`), boolean (`true`/`false`, any case), text. A value
//! that is empty or `null` (any case, spaces around ignored) fits every type.
//! A number column is an integer column unless some value has decimal places
//! once trailing zeros are dropped (`1.50` does, `1.0` does not). dbt-duckdb
//! then creates the table with the adapter's names for those types (INTEGER,
//! DOUBLE, DATE, TIMESTAMP, BOOLEAN, VARCHAR; dbt-bigquery: INT64, FLOAT64,
//! DATE, DATETIME, BOOL, STRING) and lets the warehouse parse the file.
//!
//! One deliberate difference: an integer column with a value outside the
//! 32-bit range is BIGINT here, where dbt-duckdb declares INTEGER and the
//! load fails.

use std::path::Path;

use chrono::NaiveDate;

/// The type dbt's inference gives one seed column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedType {
    Integer,
    /// An integer column with a value beyond 32 bits (see the module note).
    BigInteger,
    Double,
    Date,
    Timestamp,
    Boolean,
    Text,
}

impl SeedType {
    /// DuckDB's name for the type, as dbt-duckdb declares it.
    pub fn duckdb(self) -> &'static str {
        match self {
            Self::Integer => "INTEGER",
            Self::BigInteger => "BIGINT",
            Self::Double => "DOUBLE",
            Self::Date => "DATE",
            Self::Timestamp => "TIMESTAMP",
            Self::Boolean => "BOOLEAN",
            Self::Text => "VARCHAR",
        }
    }
}

/// A seed file's header and the inferred type of each column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedColumns {
    pub columns: Vec<(String, SeedType)>,
}

/// Reads the CSV file at `path` (fields split by `delimiter`) and infers its
/// columns' types. A file without a header row is an error.
pub fn infer_file(path: &Path, delimiter: u8) -> Result<SeedColumns, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    infer(&bytes, delimiter).map_err(|e| format!("{}: {e}", path.display()))
}

/// [`infer_file`] on the file's bytes.
pub fn infer(bytes: &[u8], delimiter: u8) -> Result<SeedColumns, String> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    let header: Vec<String> = reader
        .byte_headers()
        .map_err(|e| format!("cannot read the header row: {e}"))?
        .iter()
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err("the file has no header row naming its columns".into());
    }
    let mut columns: Vec<Column> = header.iter().map(|_| Column::default()).collect();
    for record in reader.byte_records() {
        let record = record.map_err(|e| format!("cannot read a row: {e}"))?;
        for (column, value) in columns.iter_mut().zip(record.iter()) {
            column.observe(&String::from_utf8_lossy(value));
        }
    }
    Ok(SeedColumns {
        columns: header
            .into_iter()
            .zip(columns.iter().map(|column| column.seed_type()))
            .collect(),
    })
}

/// What the values of one column seen so far allow.
#[derive(Debug, Clone, Copy)]
struct Column {
    any_cell: bool,
    number: bool,
    date: bool,
    datetime: bool,
    iso_datetime: bool,
    boolean: bool,
    decimal_places: bool,
    beyond_32_bits: bool,
}

impl Default for Column {
    fn default() -> Self {
        Self {
            any_cell: false,
            number: true,
            date: true,
            datetime: true,
            iso_datetime: true,
            boolean: true,
            decimal_places: false,
            beyond_32_bits: false,
        }
    }
}

impl Column {
    fn observe(&mut self, raw: &str) {
        self.any_cell = true;
        let value = raw.trim();
        if is_null(value) {
            return;
        }
        if self.number {
            match parse_number(value) {
                Some(number) => {
                    self.decimal_places |= number.decimal_places;
                    self.beyond_32_bits |= number.beyond_32_bits;
                }
                None => self.number = false,
            }
        }
        self.date &= parse_date(value).is_some();
        self.datetime &= is_datetime(value);
        self.iso_datetime &= is_iso_datetime(value);
        // agate drops commas before it compares a boolean.
        self.boolean &= matches!(
            value.replace(',', "").trim().to_ascii_lowercase().as_str(),
            "true" | "false" | "" | "null"
        );
    }

    fn seed_type(self) -> SeedType {
        if !self.any_cell {
            SeedType::Integer
        } else if self.number {
            if self.decimal_places {
                SeedType::Double
            } else if self.beyond_32_bits {
                SeedType::BigInteger
            } else {
                SeedType::Integer
            }
        } else if self.date {
            SeedType::Date
        } else if self.datetime || self.iso_datetime {
            SeedType::Timestamp
        } else if self.boolean {
            SeedType::Boolean
        } else {
            SeedType::Text
        }
    }
}

fn is_null(value: &str) -> bool {
    value.is_empty() || value.eq_ignore_ascii_case("null")
}

struct Number {
    decimal_places: bool,
    beyond_32_bits: bool,
}

/// The currency signs agate strips from numbers.
const CURRENCY_SIGNS: &[char] = &[
    '؋', '$', '฿', '₵', '¢', '₡', '₫', '€', '£', '₤', '₭', '₦', '₱', '₽', '₹', '﷼', '₪', '₮', '₩',
    '¥', '₴',
];

/// A value as agate's number type reads it: `%` around it, a leading minus,
/// currency signs and thousands commas ignored, then a decimal literal
/// (sign, digits, point, exponent; `inf`, `infinity` and `nan` too).
fn parse_number(value: &str) -> Option<Number> {
    let value = value.trim_matches('%');
    let negative = value.starts_with('-');
    let value = value.strip_prefix('-').unwrap_or(value);
    let value = value.trim_matches(|c| CURRENCY_SIGNS.contains(&c));
    let value = value.replace(',', "");
    let value = value.trim();
    let unsigned = value
        .strip_prefix('+')
        .or_else(|| value.strip_prefix('-'))
        .unwrap_or(value);
    if matches!(
        unsigned.to_ascii_lowercase().as_str(),
        "inf" | "infinity" | "nan" | "snan"
    ) {
        return Some(Number {
            decimal_places: false,
            beyond_32_bits: false,
        });
    }
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], unsigned[at + 1..].parse::<i64>().ok()?),
        None => (unsigned, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // The digits without leading zeros, and the power of ten of the last one.
    let digits = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0').trim_end_matches('0');
    if significant.is_empty() {
        return Some(Number {
            decimal_places: false,
            beyond_32_bits: false,
        });
    }
    let trailing_zeros = digits.len() - digits.trim_end_matches('0').len();
    let last_power = exponent - fraction.len() as i64 + trailing_zeros as i64;
    let decimal_places = last_power < 0;
    let whole_digits = significant.len() as i64 + last_power;
    let beyond_32_bits = !decimal_places
        && (whole_digits > 10 || {
            let magnitude: u64 = format!("{significant}{}", "0".repeat(last_power.max(0) as usize))
                .parse()
                .unwrap_or(u64::MAX);
            magnitude > u64::from(i32::MAX.unsigned_abs()) + u64::from(negative)
        });
    Some(Number {
        decimal_places,
        beyond_32_bits,
    })
}

/// `%Y-%m-%d` as Python's `strptime` reads it: four-digit year, one- or
/// two-digit month and day, a real calendar date.
fn parse_date(value: &str) -> Option<NaiveDate> {
    let mut parts = value.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || year.len() != 4
        || !(1..=2).contains(&month.len())
        || !(1..=2).contains(&day.len())
        || ![year, month, day]
            .iter()
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
}

/// `%Y-%m-%d %H:%M:%S` as `strptime` reads it (whitespace between the date
/// and the time, one- or two-digit fields, no fraction).
fn is_datetime(value: &str) -> bool {
    let Some((date, time)) = value.split_once(char::is_whitespace) else {
        return false;
    };
    parse_date(date).is_some() && clock(time.trim_start(), &[23, 59, 59]).is_some()
}

/// `h:m:s` fields of one or two digits within `limits`, all of them present.
fn clock(time: &str, limits: &[u32]) -> Option<()> {
    let fields: Vec<&str> = time.split(':').collect();
    if fields.len() != limits.len() {
        return None;
    }
    for (field, limit) in fields.iter().zip(limits) {
        if !(1..=2).contains(&field.len()) || !field.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if field.parse::<u32>().ok()? > *limit {
            return None;
        }
    }
    Some(())
}

/// An ISO 8601 datetime as the `isodate` library reads it: a date
/// (`2020-01-02` or `20200102`), one `T`, a time (`hh`, `hh:mm`,
/// `hh:mm:ss`, or without colons), an optional fraction and zone.
fn is_iso_datetime(value: &str) -> bool {
    let mut halves = value.split('T');
    let (Some(date), Some(time), None) = (halves.next(), halves.next(), halves.next()) else {
        return false;
    };
    let date_ok = parse_date(date).is_some()
        || (date.len() == 8
            && date.bytes().all(|b| b.is_ascii_digit())
            && NaiveDate::parse_from_str(date, "%Y%m%d").is_ok());
    date_ok && iso_time(time)
}

fn iso_time(time: &str) -> bool {
    let (time, zone) = match time.find(['Z', '+', '-']) {
        Some(at) => time.split_at(at),
        None => (time, ""),
    };
    let zone_ok = zone.is_empty() || zone == "Z" || {
        let offset = zone[1..].replace(':', "");
        matches!(offset.len(), 2 | 4) && offset.bytes().all(|b| b.is_ascii_digit())
    };
    let (clock_part, fraction) = match time.find(['.', ',']) {
        Some(at) => (&time[..at], &time[at + 1..]),
        None => (time, "0"),
    };
    if !zone_ok || fraction.is_empty() || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let compact: String = if clock_part.contains(':') {
        let fields: Vec<&str> = clock_part.split(':').collect();
        if fields.len() > 3 || fields.iter().any(|f| f.len() != 2) {
            return false;
        }
        fields.concat()
    } else {
        clock_part.to_owned()
    };
    if !matches!(compact.len(), 2 | 4 | 6) || !compact.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let limits = [23, 59, 59];
    compact
        .as_bytes()
        .chunks(2)
        .zip(limits)
        .all(|(pair, limit)| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|n| n <= limit)
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn types(csv: &str) -> Vec<SeedType> {
        infer(csv.as_bytes(), b',')
            .unwrap()
            .columns
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    fn one(values: &[&str]) -> SeedType {
        types(&format!("a\n{}\n", values.join("\n")))[0]
    }

    use SeedType::{BigInteger, Boolean, Date, Double, Integer, Text, Timestamp};

    // Each case below was checked against dbt-core 1.12's agate type tester
    // and dbt-duckdb's `convert_type`.
    #[test]
    fn numbers_are_integers_unless_a_value_has_decimal_places() {
        assert_eq!(one(&["1", "-2", " 3 "]), Integer);
        assert_eq!(one(&["1.0", "2"]), Integer);
        assert_eq!(one(&["1.50"]), Double);
        assert_eq!(one(&["007"]), Integer);
        assert_eq!(one(&["5%", "$5", "\"1,000\""]), Integer);
        assert_eq!(one(&["1e3"]), Integer);
        assert_eq!(one(&["NaN", "Infinity"]), Integer);
        assert_eq!(one(&["1", "null", "NULL", ""]), Integer);
        assert_eq!(one(&["0.00"]), Integer);
        assert_eq!(one(&[".5"]), Double);
    }

    #[test]
    fn integers_beyond_32_bits_are_bigint() {
        assert_eq!(one(&["2147483647"]), Integer);
        assert_eq!(one(&["2147483648"]), BigInteger);
        assert_eq!(one(&["-2147483648"]), Integer);
        assert_eq!(one(&["-2147483649"]), BigInteger);
        assert_eq!(one(&["-3000000000"]), BigInteger);
        assert_eq!(one(&["1e10"]), BigInteger);
        assert_eq!(one(&["1.5", "3000000000"]), Double);
    }

    #[test]
    fn dates_timestamps_and_booleans() {
        assert_eq!(one(&["2020-01-02", ""]), Date);
        assert_eq!(one(&["2020-1-2"]), Date);
        assert_eq!(one(&["2020-02-30"]), Text);
        assert_eq!(one(&["2020-01-02 10:11:12"]), Timestamp);
        assert_eq!(one(&["2020-01-02T10:11:12"]), Timestamp);
        assert_eq!(
            one(&["2020-01-02T10:11:12Z", "2020-01-02T10:11:12.5+02:00"]),
            Timestamp
        );
        assert_eq!(one(&["2020-01-02 10:11:12.5"]), Text);
        assert_eq!(one(&["2020-01-02", "2020-01-02 10:00:00"]), Text);
        assert_eq!(one(&["true", "False", " TRUE "]), Boolean);
        assert_eq!(one(&["yes"]), Text);
        assert_eq!(one(&["10:11:12"]), Text);
    }

    #[test]
    fn text_and_empty_columns() {
        assert_eq!(one(&["x", "1"]), Text);
        assert_eq!(one(&["NA", "1"]), Text);
        assert_eq!(one(&["."]), Text);
        assert_eq!(types("a,b\n1,\n2,\n"), [Integer, Integer]);
        assert_eq!(types("a,b\n"), [Integer, Integer]);
        assert_eq!(types("a,b\n1\n2,x\n"), [Integer, Text]);
    }

    #[test]
    fn header_names_delimiter_and_byte_order_mark() {
        let seed = infer("\u{feff}id;Full Name\n1;Ada\n".as_bytes(), b';').unwrap();
        assert_eq!(
            seed.columns,
            [("id".to_owned(), Integer), ("Full Name".to_owned(), Text)]
        );
        assert!(infer(b"", b',').is_err());
    }
}
