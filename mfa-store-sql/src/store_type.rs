//! [`store_type!`]: the public store type of a driver crate for one
//! database, written once for every driver and database.

/// Declares the public store type `$name` of a driver crate: a newtype of
/// [`SqlStore<$driver>`](crate::SqlStore) with the constructors and methods
/// every SQL store has, implementing every repository trait of
/// `mfa_core::store` and `UnitOfWork` ([`forward_repositories!`](crate::forward_repositories)).
///
/// `$driver` must be a `Clone` struct of the calling crate with a field
/// `pool: $pool`. The attributes before `pub struct` document the type;
/// those before `fn migrate` are the documentation of its `migrate`, which
/// says how the backend keeps concurrent migrators apart. Constructors
/// special to a driver (`connect`, `build_pool`, …) go in an `impl` block
/// of the calling crate.
///
/// ```ignore
/// mfa_store_sql::store_type! {
///     /// The store on PostgreSQL.
///     pub struct PgStore(PgDriver, PgPool);
///     /// Creates or upgrades this store's tables.
///     fn migrate;
/// }
/// ```
///
/// The type gets:
///
/// - `new(pool)`: a store with the default table prefix `mfa_`;
/// - `with_prefix(pool, prefix)`: a store whose tables start with `prefix`,
///   or [`InvalidPrefix`](crate::InvalidPrefix);
/// - `pool()`, `prefix()`, and `migrate()` (see [`SqlStore::migrate`](crate::SqlStore::migrate));
/// - `Clone`, and a `Debug` that shows the prefix only.
#[macro_export]
macro_rules! store_type {
    (
        $(#[$meta:meta])*
        pub struct $name:ident($driver:ident, $pool:ty);
        $(#[$migrate:meta])*
        fn migrate;
    ) => {
        $(#[$meta])*
        #[derive(Clone)]
        pub struct $name {
            inner: $crate::SqlStore<$driver>,
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("prefix", self.inner.prefix())
                    .finish_non_exhaustive()
            }
        }

        impl $name {
            /// A store on `pool` with the default table prefix `mfa_`.
            #[must_use]
            pub fn new(pool: $pool) -> Self {
                let prefix = $crate::TablePrefix::default();
                Self {
                    inner: $crate::SqlStore::new($driver::from(pool), prefix),
                }
            }

            /// A store on `pool` whose tables start with `prefix`.
            ///
            /// # Errors
            /// [`InvalidPrefix`](mfa_store_sql::InvalidPrefix) if `prefix`
            /// is not a safe identifier start.
            pub fn with_prefix(pool: $pool, prefix: &str) -> Result<Self, $crate::InvalidPrefix> {
                let prefix = $crate::TablePrefix::new(prefix)?;
                Ok(Self {
                    inner: $crate::SqlStore::new($driver::from(pool), prefix),
                })
            }

            /// The pool the store runs on.
            #[must_use]
            pub fn pool(&self) -> &$pool {
                &self.inner.driver().pool
            }

            /// The table prefix.
            #[must_use]
            pub fn prefix(&self) -> &$crate::TablePrefix {
                self.inner.prefix()
            }

            $(#[$migrate])*
            pub async fn migrate(&self) -> $crate::__private::StoreResult<()> {
                self.inner.migrate().await
            }

            /// `migrate`, up to version `last` only: for tests of an
            /// upgrade from an earlier schema.
            ///
            /// # Errors
            /// As `migrate`.
            #[doc(hidden)]
            pub async fn migrate_to(&self, last: i64) -> $crate::__private::StoreResult<()> {
                self.inner.migrate_to(last).await
            }

            /// On PostgreSQL, makes the audit log's monthly partitions
            /// ahead of `now` and moves events waiting in its DEFAULT
            /// partition into their month (see
            /// [`SqlStore::maintain_audit_partitions`]($crate::SqlStore::maintain_audit_partitions));
            /// elsewhere nothing. Returns how many partitions it made.
            ///
            /// # Errors
            /// A store error.
            pub async fn maintain_audit_partitions(
                &self,
                now: $crate::__private::DateTime<$crate::__private::Utc>,
            ) -> $crate::__private::StoreResult<u32> {
                self.inner.maintain_audit_partitions(now).await
            }
        }

        $crate::forward_repositories!($name => inner);
    };
}
