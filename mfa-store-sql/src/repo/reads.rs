//! The combined reads of the engine's hot steps ([`StepReads`]).

use crate::columns as cols;
use crate::driver::{Driver, Row};
use crate::rows::FromRow;
use crate::sql::Arg;
use crate::store::SqlStore;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use mfa_core::model::*;
use mfa_core::store::*;
use tracing::instrument;
use uuid::Uuid;

/// `alias.column, …` for a column list of [`cols`].
pub(crate) fn qualified(alias: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| format!("{alias}.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `alias.column AS alias_column, …` for a column list of [`cols`].
pub(crate) fn aliased(alias: &str, columns: &str) -> String {
    columns
        .split(',')
        .map(|c| {
            let c = c.trim();
            format!("{alias}.{c} AS {alias}_{c}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of one table in a joined row, read by their own names.
pub(crate) struct Part<'a> {
    /// The joined row.
    pub(crate) row: &'a dyn Row,
    /// The table's alias in the query.
    pub(crate) alias: &'static str,
}

impl Part<'_> {
    fn name(&self, column: &str) -> String {
        format!("{}_{column}", self.alias)
    }
}

macro_rules! forward_columns {
    ($($method:ident -> $t:ty),* $(,)?) => {
        impl Row for Part<'_> {
            $(fn $method(&self, column: &str) -> StoreResult<$t> {
                self.row.$method(&self.name(column))
            })*
        }
    };
}

forward_columns!(
    uuid -> Uuid,
    opt_uuid -> Option<Uuid>,
    text -> String,
    opt_text -> Option<String>,
    i32 -> i32,
    opt_i32 -> Option<i32>,
    i64 -> i64,
    opt_i64 -> Option<i64>,
    bytes -> Vec<u8>,
    opt_bytes -> Option<Vec<u8>>,
    bool -> bool,
    ts -> DateTime<Utc>,
    opt_ts -> Option<DateTime<Utc>>,
    json -> serde_json::Value,
);

/// One row of the ticket-context query: the ticket, its user when asked
/// for, one factor and the factor's latest login challenge.
struct ContextRow {
    ticket: LoginTicket,
    user: Option<User>,
    factor: Factor,
    latest: Option<OtpChallenge>,
}

fn context_row(row: &dyn Row, with_user: bool) -> StoreResult<ContextRow> {
    let latest = Part { row, alias: "c" };
    Ok(ContextRow {
        ticket: LoginTicket::from_row(&Part { row, alias: "t" })?,
        user: if with_user {
            Some(User::from_row(&Part { row, alias: "u" })?)
        } else {
            None
        },
        factor: Factor::from_row(&Part { row, alias: "f" })?,
        latest: match latest.opt_uuid("id")? {
            Some(_) => Some(OtpChallenge::from_row(&latest)?),
            None => None,
        },
    })
}

#[async_trait]
impl<D: Driver> StepReads for SqlStore<D> {
    /// One statement joining the ticket, its user and the user's factors;
    /// inside a unit of work it locks them (see [`crate::unit`]). A ticket
    /// whose user has no factor (the join finds nothing) is read table by
    /// table, unlocked.
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "ticket_context"))]
    async fn ticket_context(
        &self,
        token_hash: &TokenHash,
        with_user: bool,
    ) -> StoreResult<Option<TicketContext>> {
        let (user_columns, user_join) = if with_user {
            (
                format!(", {}", aliased("u", cols::USER)),
                "JOIN {p}users u ON u.id = t.user_id ",
            )
        } else {
            (String::new(), "")
        };
        // Each factor's latest login challenge comes along (what a send
        // checks for its cool-down and a code is checked against); the
        // lock is on the ticket, the user and the factors, which every
        // writer of a login challenge locks first.
        let sql = format!(
            "SELECT {}{user_columns}, {}, {} FROM {{p}}login_tickets t {user_join}\
             JOIN {{p}}factors f ON f.user_id = t.user_id AND f.deleted_at IS NULL \
             LEFT JOIN {{p}}challenges c ON c.id = (SELECT l.id FROM {{p}}challenges l \
             WHERE l.factor_id = f.id AND l.purpose = $2 \
             ORDER BY l.created_at DESC, l.id DESC LIMIT 1) \
             WHERE t.token_hash = $1 ORDER BY f.created_at, f.id{}",
            aliased("t", cols::TICKET),
            aliased("f", cols::FACTOR),
            aliased("c", cols::CHALLENGE),
            if self.unit().is_some() {
                self.dialect()
                    .for_update_of(if with_user { "t, u, f" } else { "t, f" })
            } else {
                String::new()
            },
        );
        let args = vec![
            Arg::Bytes(token_hash.as_bytes().to_vec()),
            Arg::Text(ChallengePurpose::Login.as_str().to_owned()),
        ];
        let statement = self.st(&sql, args);
        let mut rows: Vec<ContextRow> = Vec::new();
        crate::driver::Executor::fetch(&mut self.pool(), &statement, &mut |row| {
            rows.push(context_row(row, with_user)?);
            Ok(())
        })
        .await?;
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return ticket_context_by_calls(self, token_hash, with_user).await;
        };
        let mut latest = vec![(first.factor.id, first.latest)];
        let mut factors = vec![first.factor];
        for row in rows {
            latest.push((row.factor.id, row.latest));
            factors.push(row.factor);
        }
        let context = TicketContext {
            ticket: first.ticket,
            user: first.user,
            factors,
        };
        if let Some(unit) = self.unit() {
            unit.lock_context(&context);
            unit.know_latest_login_challenges(latest);
        }
        Ok(Some(context))
    }

    /// One statement joining the user, the user's factors and settings and
    /// counting the unused backup codes (inside a unit of work it locks
    /// the user's row, see [`crate::unit`]), then the user's devices. A
    /// host's own user table, or a user that is not there, is read table
    /// by table.
    #[instrument(level = "debug", name = "mfa.store", skip_all, fields(backend = D::DIALECT.name, op = "sign_in_context"))]
    async fn sign_in_context(&self, user: UserId, with_user: bool) -> StoreResult<SignInContext> {
        if !with_user {
            return sign_in_context_by_calls(self, user, with_user).await;
        }
        let sql = format!(
            "SELECT {}, {}, {}, (SELECT COUNT(*) FROM {{p}}backup_codes b \
             WHERE b.user_id = u.id AND b.used_at IS NULL) AS backup_left \
             FROM {{p}}users u \
             LEFT JOIN {{p}}factors f ON f.user_id = u.id AND f.deleted_at IS NULL \
             LEFT JOIN {{p}}mfa_settings s ON s.user_id = u.id \
             WHERE u.id = $1 ORDER BY f.created_at, f.id{}",
            aliased("u", cols::USER),
            aliased("f", cols::FACTOR),
            aliased("s", cols::SETTINGS),
            if self.unit().is_some() {
                self.dialect().for_update_of("u")
            } else {
                String::new()
            },
        );
        let statement = self.st(&sql, vec![crate::rows::uuid_of(user)]);
        let mut found: Option<(User, Option<MfaSettings>, i64)> = None;
        let mut factors = Vec::new();
        crate::driver::Executor::fetch(&mut self.pool(), &statement, &mut |row| {
            if found.is_none() {
                let settings = Part { row, alias: "s" };
                let settings = match settings.opt_uuid("user_id")? {
                    Some(_) => Some(MfaSettings::from_row(&settings)?),
                    None => None,
                };
                found = Some((
                    User::from_row(&Part { row, alias: "u" })?,
                    settings,
                    row.i64("backup_left")?,
                ));
            }
            let factor = Part { row, alias: "f" };
            if factor.opt_uuid("id")?.is_some() {
                factors.push(Factor::from_row(&factor)?);
            }
            Ok(())
        })
        .await?;
        let Some((found, settings, backup_left)) = found else {
            return sign_in_context_by_calls(self, user, with_user).await;
        };
        let backup_codes_left = if factors
            .iter()
            .any(|f| f.kind == FactorKind::BackupCodes && f.is_active())
        {
            u32::try_from(backup_left).unwrap_or(u32::MAX)
        } else {
            0
        };
        // Read under the user's lock: no sign-in of this user adds a
        // device until the unit ends.
        let devices = self.list_devices(user).await?;
        let context = SignInContext {
            user: Some(found),
            factors,
            devices,
            settings,
            backup_codes_left,
        };
        if let Some(unit) = self.unit() {
            unit.lock_sign_in(&context);
        }
        Ok(context)
    }
}
