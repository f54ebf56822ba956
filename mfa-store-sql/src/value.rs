//! Values between the repositories and a driver, converted once for every
//! driver.
//!
//! Most column types are the same Rust type on every backend (text,
//! integers, bytes, booleans). Three are not: a backend stores UUIDs either
//! natively or as 16 bytes, timestamps as `timestamptz`, UTC `DATETIME` or
//! integer microseconds, and JSON natively or as text. A driver names its
//! choice for each with a [`Storage`], and implements two small generic
//! traits with its database library:
//!
//! - [`Decode`]: read one column of a result row as a Rust type;
//! - [`Bind`]: bind one Rust value to a query.
//!
//! The rest is here: [`Columns`] reads a row as a [`Row`] (converting the
//! stored forms back, and turning a value that does not convert into
//! [`StoreError::Corrupt`](mfa_core::store::StoreError::Corrupt)), and
//! [`bind_args`] binds a statement's [`Arg`]s in their stored forms.

use crate::driver::Row;
use crate::error::corrupt;
use crate::sql::Arg;
use chrono::{DateTime, NaiveDateTime, Utc};
use mfa_core::store::StoreResult;
use serde_json::Value;
use std::marker::PhantomData;
use uuid::Uuid;

/// A form in which a backend stores values of type `T`.
pub trait Stored<T>: Sized {
    /// The stored form of `value`.
    fn store(value: T) -> Self;

    /// The value back from its stored form, read from `column`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`](mfa_core::store::StoreError::Corrupt) naming
    /// `column` if the stored form is not a valid `T`.
    fn load(self, column: &str) -> StoreResult<T>;
}

/// Values the backend stores as they are.
macro_rules! stored_natively {
    ($($t:ty),*) => {
        $(impl Stored<$t> for $t {
            fn store(value: $t) -> Self {
                value
            }

            fn load(self, _: &str) -> StoreResult<$t> {
                Ok(self)
            }
        })*
    };
}

stored_natively!(Uuid, DateTime<Utc>, Value);

/// A UUID as its 16 bytes (SQLite `BLOB`, MySQL `BINARY(16)`).
impl Stored<Uuid> for Vec<u8> {
    fn store(value: Uuid) -> Self {
        value.as_bytes().to_vec()
    }

    fn load(self, column: &str) -> StoreResult<Uuid> {
        Uuid::from_slice(&self).map_err(|_| corrupt(column))
    }
}

/// A timestamp as microseconds since the Unix epoch (SQLite `INTEGER`).
impl Stored<DateTime<Utc>> for i64 {
    fn store(value: DateTime<Utc>) -> Self {
        value.timestamp_micros()
    }

    fn load(self, column: &str) -> StoreResult<DateTime<Utc>> {
        DateTime::from_timestamp_micros(self).ok_or_else(|| corrupt(column))
    }
}

/// A timestamp as a date and time in UTC (MySQL `DATETIME(6)`).
impl Stored<DateTime<Utc>> for NaiveDateTime {
    fn store(value: DateTime<Utc>) -> Self {
        value.naive_utc()
    }

    fn load(self, _: &str) -> StoreResult<DateTime<Utc>> {
        Ok(self.and_utc())
    }
}

/// A JSON document as its text (SQLite `TEXT`, MariaDB's `JSON`, which is
/// `LONGTEXT` with a validity check).
impl Stored<Value> for String {
    fn store(value: Value) -> Self {
        value.to_string()
    }

    fn load(self, column: &str) -> StoreResult<Value> {
        serde_json::from_str(&self).map_err(|_| corrupt(column))
    }
}

/// The forms in which one driver stores the values without a common SQL
/// type.
pub trait Storage: 'static {
    /// The stored form of a UUID: [`Uuid`] or `Vec<u8>`.
    type Uuid: Stored<Uuid>;
    /// The stored form of a timestamp: `DateTime<Utc>`, [`NaiveDateTime`]
    /// (UTC) or `i64` microseconds.
    type Ts: Stored<DateTime<Utc>>;
    /// The stored form of a JSON document: [`Value`] or `String`.
    type Json: Stored<Value>;
}

/// A result row of a driver, whose columns it reads by name as `T`.
pub trait Decode<T> {
    /// The value of `column`.
    ///
    /// # Errors
    /// The driver's, mapped: a missing column or a value that is not a `T`
    /// is [`StoreError::Corrupt`](mfa_core::store::StoreError::Corrupt).
    fn decode(&self, column: &str) -> StoreResult<T>;
}

/// A query of a driver that takes a bound `T`.
pub trait Bind<T>: Sized {
    /// The query with `value` bound to its next parameter.
    #[must_use]
    fn bind(self, value: T) -> Self;
}

/// Every [`Decode`] that [`Columns`] needs of a driver's row with storage
/// `S` (implemented for every such row).
pub trait Decoder<S: Storage>:
    Decode<S::Uuid>
    + Decode<Option<S::Uuid>>
    + Decode<S::Ts>
    + Decode<Option<S::Ts>>
    + Decode<S::Json>
    + Decode<String>
    + Decode<Option<String>>
    + Decode<i32>
    + Decode<Option<i32>>
    + Decode<i64>
    + Decode<Option<i64>>
    + Decode<Vec<u8>>
    + Decode<Option<Vec<u8>>>
    + Decode<bool>
{
}

impl<S: Storage, R> Decoder<S> for R where
    R: Decode<S::Uuid>
        + Decode<Option<S::Uuid>>
        + Decode<S::Ts>
        + Decode<Option<S::Ts>>
        + Decode<S::Json>
        + Decode<String>
        + Decode<Option<String>>
        + Decode<i32>
        + Decode<Option<i32>>
        + Decode<i64>
        + Decode<Option<i64>>
        + Decode<Vec<u8>>
        + Decode<Option<Vec<u8>>>
        + Decode<bool>
{
}

/// Every [`Bind`] that [`bind_args`] needs of a driver's query with storage
/// `S` (implemented for every such query).
pub trait Binder<S: Storage>:
    Bind<S::Uuid>
    + Bind<Option<S::Uuid>>
    + Bind<S::Ts>
    + Bind<Option<S::Ts>>
    + Bind<S::Json>
    + Bind<String>
    + Bind<Option<String>>
    + Bind<i32>
    + Bind<Option<i32>>
    + Bind<i64>
    + Bind<Option<i64>>
    + Bind<Vec<u8>>
    + Bind<Option<Vec<u8>>>
    + Bind<bool>
{
}

impl<S: Storage, Q> Binder<S> for Q where
    Q: Bind<S::Uuid>
        + Bind<Option<S::Uuid>>
        + Bind<S::Ts>
        + Bind<Option<S::Ts>>
        + Bind<S::Json>
        + Bind<String>
        + Bind<Option<String>>
        + Bind<i32>
        + Bind<Option<i32>>
        + Bind<i64>
        + Bind<Option<i64>>
        + Bind<Vec<u8>>
        + Bind<Option<Vec<u8>>>
        + Bind<bool>
{
}

/// `query` with `args` bound in order, each in its stored form of `S`.
#[must_use]
pub fn bind_args<S: Storage, Q: Binder<S>>(query: Q, args: &[Arg]) -> Q {
    args.iter().cloned().fold(query, |q, arg| match arg {
        Arg::Uuid(v) => q.bind(S::Uuid::store(v)),
        Arg::OptUuid(v) => q.bind(v.map(S::Uuid::store)),
        Arg::Ts(v) => q.bind(S::Ts::store(v)),
        Arg::OptTs(v) => q.bind(v.map(S::Ts::store)),
        Arg::Json(v) => q.bind(S::Json::store(v)),
        Arg::Bytes(v) => q.bind(v),
        Arg::OptBytes(v) => q.bind(v),
        Arg::Text(v) => q.bind(v),
        Arg::OptText(v) => q.bind(v),
        Arg::I32(v) => q.bind(v),
        Arg::OptI32(v) => q.bind(v),
        Arg::I64(v) => q.bind(v),
        Arg::OptI64(v) => q.bind(v),
        Arg::Bool(v) => q.bind(v),
    })
}

/// A driver's result row as a [`Row`]: every column decoded in the form
/// storage `S` gives it, then converted.
pub struct Columns<'a, R, S> {
    row: &'a R,
    storage: PhantomData<S>,
}

impl<'a, R, S> Columns<'a, R, S> {
    /// The [`Row`] of `row`.
    #[must_use]
    pub fn new(row: &'a R) -> Self {
        Self {
            row,
            storage: PhantomData,
        }
    }

    /// `column` decoded as `T`.
    fn get<T>(&self, column: &str) -> StoreResult<T>
    where
        R: Decode<T>,
    {
        self.row.decode(column)
    }
}

impl<R: Decoder<S>, S: Storage> Row for Columns<'_, R, S> {
    fn uuid(&self, c: &str) -> StoreResult<Uuid> {
        self.get::<S::Uuid>(c)?.load(c)
    }
    fn opt_uuid(&self, c: &str) -> StoreResult<Option<Uuid>> {
        let stored: Option<S::Uuid> = self.get(c)?;
        stored.map(|v| v.load(c)).transpose()
    }
    fn text(&self, c: &str) -> StoreResult<String> {
        self.get(c)
    }
    fn opt_text(&self, c: &str) -> StoreResult<Option<String>> {
        self.get(c)
    }
    fn i32(&self, c: &str) -> StoreResult<i32> {
        self.get(c)
    }
    fn opt_i32(&self, c: &str) -> StoreResult<Option<i32>> {
        self.get(c)
    }
    fn i64(&self, c: &str) -> StoreResult<i64> {
        self.get(c)
    }
    fn opt_i64(&self, c: &str) -> StoreResult<Option<i64>> {
        self.get(c)
    }
    fn bytes(&self, c: &str) -> StoreResult<Vec<u8>> {
        self.get(c)
    }
    fn opt_bytes(&self, c: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get(c)
    }
    fn bool(&self, c: &str) -> StoreResult<bool> {
        self.get(c)
    }
    fn ts(&self, c: &str) -> StoreResult<DateTime<Utc>> {
        self.get::<S::Ts>(c)?.load(c)
    }
    fn opt_ts(&self, c: &str) -> StoreResult<Option<DateTime<Utc>>> {
        let stored: Option<S::Ts> = self.get(c)?;
        stored.map(|v| v.load(c)).transpose()
    }
    fn json(&self, c: &str) -> StoreResult<Value> {
        self.get::<S::Json>(c)?.load(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mfa_core::store::StoreError;

    #[test]
    fn stored_forms_round_trip() {
        let id = Uuid::now_v7();
        assert_eq!(Vec::<u8>::store(id).load("id").unwrap(), id);
        let at = DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap();
        assert_eq!(i64::store(at).load("at").unwrap(), at);
        assert_eq!(NaiveDateTime::store(at).load("at").unwrap(), at);
        let doc = serde_json::json!({"a": [1, 2]});
        assert_eq!(String::store(doc.clone()).load("m").unwrap(), doc);
    }

    #[test]
    fn invalid_stored_forms_are_corrupt_and_name_the_column() {
        let err = vec![1u8, 2, 3]
            .load("user_id")
            .map(|_: Uuid| ())
            .unwrap_err();
        assert!(matches!(&err, StoreError::Corrupt(m) if m.contains("user_id")));
        let bad_json: StoreResult<Value> = "{nope".to_owned().load("metadata");
        assert!(matches!(bad_json, Err(StoreError::Corrupt(_))));
        let out_of_range: StoreResult<DateTime<Utc>> = i64::MAX.load("at");
        assert!(matches!(out_of_range, Err(StoreError::Corrupt(_))));
    }
}
