//! Phone numbers and the SMS-pumping guard.
//!
//! SMS pumping ("toll fraud") drives a sign-in or enrolment form to send
//! many messages to numbers whose termination fees the attacker shares in:
//! premium-rate ranges, or whole destinations where a complicit carrier
//! inflates traffic (several small NANP countries behind `+1` are known
//! for it). [`SmsGuard`] refuses such destinations before any provider
//! request. It judges a number with libphonenumber's metadata (through the
//! `phonenumber` crate), not by its digits alone:
//!
//! - the number must be strict, canonical E.164 and valid for a region;
//! - its **region** (ISO 3166-1 alpha-2, e.g. `+1 876 …` is `JM`, not `US`)
//!   must be on the host's allow-list;
//! - its **number type** must be allowed: mobile only by default, so
//!   premium-rate, shared-cost, toll-free, VoIP, pager, UAN, personal and
//!   voicemail numbers are refused unless the host widens the list. A
//!   VoIP number is also not "a specific physical device", which NIST
//!   SP 800-63B (§5.1.3.3) asks of an SMS authenticator, itself a
//!   RESTRICTED one (§5.2.10);
//! - the destination must be under a quota (a sliding window per number,
//!   kept in this process, in constant time per check and bounded memory;
//!   see [`SmsGuardBuilder::max_tracked_numbers`]).
//!
//! Limits of the metadata: where it cannot tell fixed lines from mobiles
//! (the US and Canada), the type is [`NumberType::FixedLineOrMobile`],
//! allowed by default; only a carrier lookup (outside this crate) can tell
//! more. Numbers of non-geographic services (`+800`, `+881`, `+882`, …)
//! have no region and are always refused. `phonenumber` 0.3 does not type
//! numbers whose national part starts with 0 (Italian fixed lines, Côte
//! d'Ivoire mobiles): they are refused, as unknown, which fails closed.

use chrono::{DateTime, TimeDelta, Utc};
use mfa_core::clock::{Clock, SystemClock};
use mfa_core::delivery::DeliveryError;
use phonenumber::metadata::DATABASE;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

/// A phone number in strict E.164 form: `+`, then 7 to 15 digits, the
/// first not 0, nothing else (no spaces or punctuation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a strict E.164 number. This checks the form only;
    /// [`SmsGuard::check`] also asks the metadata whether the number exists.
    ///
    /// ```
    /// use mfa_delivery::phone::PhoneNumber;
    /// assert!(PhoneNumber::parse("+41791234567").is_ok());
    /// assert!(PhoneNumber::parse("0041 79 123 45 67").is_err());
    /// ```
    ///
    /// # Errors
    /// [`GuardError::InvalidNumber`] for anything else.
    pub fn parse(s: &str) -> Result<Self, GuardError> {
        let digits = s.strip_prefix('+').ok_or(GuardError::InvalidNumber)?;
        let valid = (7..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(GuardError::InvalidNumber)
        }
    }

    /// The number with its leading `+`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits after the `+`.
    #[must_use]
    pub fn digits(&self) -> &str {
        &self.0[1..]
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A region with phone-number metadata: an ISO 3166-1 alpha-2 code in
/// upper case (`CH`, `GB`, `US`, `JM`, …), as libphonenumber assigns it to
/// a number. `+1 212 …` is `US`, `+1 876 …` is `JM`: one calling code,
/// several regions.
///
/// ```
/// use mfa_delivery::phone::Region;
/// let ch: Region = "CH".parse()?;
/// assert_eq!(ch.as_str(), "CH");
/// assert!("UK".parse::<Region>().is_err()); // the ISO code is GB
/// assert!("ch".parse::<Region>().is_err());
/// # Ok::<(), mfa_delivery::phone::GuardConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Region(&'static str);

impl Region {
    /// The two-letter code.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        self.0
    }

    /// The region of a metadata entry; `None` for the non-geographic
    /// entries (id `001`: `+800`, `+881`, `+882`, …).
    fn of(metadata: &'static phonenumber::Metadata) -> Option<Self> {
        let id = metadata.id();
        (id.len() == 2 && id.bytes().all(|b| b.is_ascii_uppercase())).then_some(Self(id))
    }
}

impl FromStr for Region {
    type Err = GuardConfigError;

    /// # Errors
    /// [`GuardConfigError::UnknownRegion`] for anything but an upper-case
    /// code the metadata knows.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DATABASE
            .by_id(s)
            .and_then(Self::of)
            .ok_or_else(|| GuardConfigError::UnknownRegion(s.to_owned()))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({})", self.0)
    }
}

/// What kind of line a number is, per libphonenumber's metadata. Written
/// and parsed in kebab case (`premium-rate`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum NumberType {
    /// A mobile number. Allowed by default.
    Mobile,
    /// Fixed line or mobile: the metadata cannot tell them apart (the US,
    /// Canada and other NANP regions). Allowed by default.
    FixedLineOrMobile,
    /// A fixed line. Many cannot receive SMS; refused by default.
    FixedLine,
    /// Free for the caller, paid by the number's owner.
    TollFree,
    /// Premium rate: the owner earns on every message or call.
    PremiumRate,
    /// Cost shared between caller and owner.
    SharedCost,
    /// A personal (follow-me) number routed to another line.
    PersonalNumber,
    /// Voice over IP: not tied to a physical device.
    Voip,
    /// A pager.
    Pager,
    /// A universal access ("company") number.
    Uan,
    /// A voicemail access number.
    Voicemail,
    /// Valid, but matching none of the types above.
    Unknown,
}

impl NumberType {
    /// Every type, in the order of this enum.
    pub const ALL: &'static [Self] = &[
        Self::Mobile,
        Self::FixedLineOrMobile,
        Self::FixedLine,
        Self::TollFree,
        Self::PremiumRate,
        Self::SharedCost,
        Self::PersonalNumber,
        Self::Voip,
        Self::Pager,
        Self::Uan,
        Self::Voicemail,
        Self::Unknown,
    ];

    /// The types an [`SmsGuard`] allows unless told otherwise.
    pub const DEFAULT_ALLOWED: &'static [Self] = &[Self::Mobile, Self::FixedLineOrMobile];

    /// The kebab-case name (`premium-rate`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::FixedLineOrMobile => "fixed-line-or-mobile",
            Self::FixedLine => "fixed-line",
            Self::TollFree => "toll-free",
            Self::PremiumRate => "premium-rate",
            Self::SharedCost => "shared-cost",
            Self::PersonalNumber => "personal-number",
            Self::Voip => "voip",
            Self::Pager => "pager",
            Self::Uan => "uan",
            Self::Voicemail => "voicemail",
            Self::Unknown => "unknown",
        }
    }
}

impl From<phonenumber::Type> for NumberType {
    fn from(t: phonenumber::Type) -> Self {
        use phonenumber::Type as T;
        match t {
            T::Mobile => Self::Mobile,
            T::FixedLineOrMobile => Self::FixedLineOrMobile,
            T::FixedLine => Self::FixedLine,
            T::TollFree => Self::TollFree,
            T::PremiumRate => Self::PremiumRate,
            T::SharedCost => Self::SharedCost,
            T::PersonalNumber => Self::PersonalNumber,
            T::Voip => Self::Voip,
            T::Pager => Self::Pager,
            T::Uan => Self::Uan,
            T::Voicemail => Self::Voicemail,
            // Short-number categories; never the type of a full number.
            T::Emergency
            | T::ShortCode
            | T::StandardRate
            | T::Carrier
            | T::NoInternational
            | T::Unknown => Self::Unknown,
        }
    }
}

impl FromStr for NumberType {
    type Err = GuardConfigError;

    /// # Errors
    /// [`GuardConfigError::UnknownNumberType`] for a name not in
    /// [`NumberType::as_str`]'s list.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| GuardConfigError::UnknownNumberType(s.to_owned()))
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why [`SmsGuard`] refused a destination. No variant carries the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardError {
    /// Not a strict, canonical E.164 number (`+410791234567` is the
    /// well-formed but non-canonical spelling of `+41791234567`).
    #[error("not a canonical E.164 phone number")]
    InvalidNumber,
    /// E.164 in form, but no valid number in libphonenumber's metadata (an
    /// unassigned calling code or number range, or a wrong length).
    #[error("not a valid phone number for any region")]
    NotValid,
    /// A number of a non-geographic service (`+800`, `+881`, `+882`, …),
    /// which belongs to no region.
    #[error("destination has no region (non-geographic number)")]
    NoRegion,
    /// The number's region is not on the allow-list.
    #[error("destination region {region} not allowed")]
    RegionNotAllowed {
        /// The region the number belongs to.
        region: Region,
    },
    /// The number's type is not allowed (premium-rate, fixed line, …).
    #[error("destination number type {number_type} not allowed")]
    NumberTypeNotAllowed {
        /// The type the metadata gives the number.
        number_type: NumberType,
    },
    /// Too many messages to this number in the window.
    #[error("too many messages to this number; retry in {retry_after}")]
    QuotaExceeded {
        /// When the oldest counted send leaves the window.
        retry_after: TimeDelta,
    },
    /// The guard already tracks its maximum of distinct numbers in the
    /// window ([`SmsGuardBuilder::max_tracked_numbers`]); this number is
    /// not one of them.
    #[error("too many destinations in the window; retry in {retry_after}")]
    TooManyDestinations {
        /// When the oldest counted send leaves the window, the earliest a
        /// number may be forgotten (at least one second).
        retry_after: TimeDelta,
    },
}

impl From<GuardError> for DeliveryError {
    /// A malformed or non-existent number is
    /// [`DeliveryError::InvalidDestination`]; a number that exists but is
    /// refused by policy (no region, region or type not allowed) or an
    /// exceeded quota is [`DeliveryError::Rejected`] (retrying soon will
    /// not help).
    fn from(e: GuardError) -> Self {
        match e {
            GuardError::InvalidNumber | GuardError::NotValid => Self::InvalidDestination,
            other => Self::Rejected(other.to_string()),
        }
    }
}

/// Why an [`SmsGuard`] could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GuardConfigError {
    /// Not an upper-case ISO 3166-1 alpha-2 code with phone-number metadata.
    #[error(
        "unknown region code {0:?}: expected an upper-case ISO 3166-1 alpha-2 code such as CH, GB or US"
    )]
    UnknownRegion(String),
    /// Not one of the [`NumberType`] names.
    #[error(
        "unknown number type {0:?}: expected one of mobile, fixed-line-or-mobile, fixed-line, toll-free, premium-rate, shared-cost, personal-number, voip, pager, uan, voicemail, unknown"
    )]
    UnknownNumberType(String),
    /// Neither [`SmsGuardBuilder::allow_regions`] (with at least one
    /// region) nor [`SmsGuardBuilder::allow_all_regions`] was called.
    #[error("no destination region allowed: list the regions, or allow all of them explicitly")]
    NoRegions,
    /// Both a list of regions and all regions were allowed.
    #[error("both a list of regions and all regions were allowed; choose one")]
    ConflictingRegions,
    /// The quota allows nothing, the window is not positive, or no number
    /// may be tracked.
    #[error("the quota needs at least one message, a positive window and room for one number")]
    InvalidQuota,
}

/// Allowed destinations and per-destination quotas for SMS; see the
/// [module documentation](self) for what is checked and why.
///
/// The quota counts every send attempt that passed the other checks, in a
/// sliding window, in this process only (several server processes each
/// keep their own count; the engine's store-backed per-destination cap
/// still applies across them). A check costs the same however many numbers
/// are tracked: each one forgets at most two numbers whose window has
/// passed, and at most [`max_tracked_numbers`](SmsGuardBuilder::max_tracked_numbers)
/// numbers are tracked at once.
///
/// ```
/// use chrono::TimeDelta;
/// use mfa_delivery::phone::{GuardError, NumberType, SmsGuard};
///
/// let guard = SmsGuard::builder()
///     .allow_regions(["CH", "DE", "US"])
///     .quota(2, TimeDelta::hours(1))
///     .build()?;
/// assert!(guard.check("+41791234567").is_ok()); // Swiss mobile
/// assert!(guard.check("+41791234567").is_ok());
/// assert!(matches!(guard.check("+41791234567"), Err(GuardError::QuotaExceeded { .. })));
/// // +1, but Jamaica, not the US.
/// assert!(matches!(guard.check("+18762101234"), Err(GuardError::RegionNotAllowed { .. })));
/// // Swiss premium rate.
/// assert_eq!(
///     guard.check("+41900123456"),
///     Err(GuardError::NumberTypeNotAllowed { number_type: NumberType::PremiumRate })
/// );
/// # Ok::<(), mfa_delivery::phone::GuardConfigError>(())
/// ```
pub struct SmsGuard {
    /// `None`: every region.
    regions: Option<BTreeSet<Region>>,
    types: BTreeSet<NumberType>,
    max: usize,
    window: TimeDelta,
    max_tracked: usize,
    clock: Arc<dyn Clock>,
    sent: Mutex<Sent>,
}

/// The sends the quota counts.
#[derive(Default)]
struct Sent {
    /// Each tracked number's sends, oldest first: at most `max`, the older
    /// ones dropped when the number is checked again.
    by_number: HashMap<Arc<str>, VecDeque<DateTime<Utc>>>,
    /// Every counted send, oldest first, so that numbers whose window has
    /// passed are found without scanning `by_number`.
    expiry: VecDeque<(DateTime<Utc>, Arc<str>)>,
}

/// How many expired sends one check clears: more than the one it adds, so
/// the backlog shrinks, and a constant, so no check pays for a sweep.
const EXPIRE_PER_CHECK: usize = 2;

impl Sent {
    /// Forgets up to [`EXPIRE_PER_CHECK`] sends at or before `horizon`,
    /// and a number with them when it has no later send.
    fn expire(&mut self, horizon: DateTime<Utc>) {
        for _ in 0..EXPIRE_PER_CHECK {
            match self.expiry.front() {
                Some((at, _)) if *at <= horizon => {}
                _ => return,
            }
            let Some((_, number)) = self.expiry.pop_front() else {
                return;
            };
            if self
                .by_number
                .get(&number)
                .is_some_and(|times| times.back().is_none_or(|t| *t <= horizon))
            {
                self.by_number.remove(&number);
            }
        }
    }
}

impl fmt::Debug for SmsGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsGuard")
            .field("regions", &self.regions)
            .field("types", &self.types)
            .field("max", &self.max)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// Settings of an [`SmsGuard`], checked once by [`SmsGuardBuilder::build`].
///
/// The regions have no default: call [`allow_regions`](Self::allow_regions)
/// or, deliberately, [`allow_all_regions`](Self::allow_all_regions). The
/// types default to [`NumberType::DEFAULT_ALLOWED`]; the quota to 5
/// messages per number per hour.
#[derive(Debug)]
#[must_use]
pub struct SmsGuardBuilder {
    regions: Vec<String>,
    all_regions: bool,
    types: BTreeSet<NumberType>,
    max: usize,
    window: TimeDelta,
    max_tracked: usize,
    clock: Arc<dyn Clock>,
}

impl SmsGuardBuilder {
    /// Allows these regions (upper-case ISO 3166-1 alpha-2 codes: `"CH"`,
    /// `"DE"`, `"US"`, …; `"GB"`, not `"UK"`). Adds to earlier calls.
    /// Checked by [`build`](Self::build).
    pub fn allow_regions<I, S>(mut self, regions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.regions
            .extend(regions.into_iter().map(|r| r.as_ref().to_owned()));
        self
    }

    /// Allows every region (numbers of non-geographic services stay
    /// refused). The number types and the quota still apply; prefer
    /// [`allow_regions`](Self::allow_regions) with the regions you serve.
    pub fn allow_all_regions(mut self) -> Self {
        self.all_regions = true;
        self
    }

    /// Also allows these number types, besides
    /// [`NumberType::DEFAULT_ALLOWED`] (e.g. [`NumberType::FixedLine`] for a
    /// provider that turns SMS to fixed lines into voice calls). Think
    /// twice before allowing premium-rate or shared-cost numbers: they are
    /// what SMS pumping aims at.
    pub fn allow_types(mut self, types: impl IntoIterator<Item = NumberType>) -> Self {
        self.types.extend(types);
        self
    }

    /// At most `max` messages per number within any `window`.
    pub fn quota(mut self, max: usize, window: TimeDelta) -> Self {
        self.max = max;
        self.window = window;
        self
    }

    /// Tracks at most `n` distinct numbers within one window (default
    /// 100,000, a few tens of MB at most): a number beyond them is refused
    /// with [`GuardError::TooManyDestinations`] until the oldest counted
    /// send leaves the window. That many distinct destinations in one
    /// window is pumping, not sign-ins; raise it for a larger service.
    pub fn max_tracked_numbers(mut self, n: usize) -> Self {
        self.max_tracked = n;
        self
    }

    /// Uses `clock` for the quota window (tests pass a manual clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the settings and builds the guard.
    ///
    /// # Errors
    /// [`GuardConfigError::UnknownRegion`] naming the first bad code,
    /// [`GuardConfigError::NoRegions`], [`GuardConfigError::ConflictingRegions`],
    /// or [`GuardConfigError::InvalidQuota`] for `max == 0`, a window that
    /// is not positive, or no tracked number.
    pub fn build(self) -> Result<SmsGuard, GuardConfigError> {
        let regions = match (self.all_regions, self.regions.is_empty()) {
            (true, true) => None,
            (true, false) => return Err(GuardConfigError::ConflictingRegions),
            (false, true) => return Err(GuardConfigError::NoRegions),
            (false, false) => Some(
                self.regions
                    .iter()
                    .map(|r| r.parse())
                    .collect::<Result<BTreeSet<Region>, _>>()?,
            ),
        };
        if self.max == 0 || self.window <= TimeDelta::zero() || self.max_tracked == 0 {
            return Err(GuardConfigError::InvalidQuota);
        }
        Ok(SmsGuard {
            regions,
            types: self.types,
            max: self.max,
            window: self.window,
            max_tracked: self.max_tracked,
            clock: self.clock,
            sent: Mutex::new(Sent::default()),
        })
    }
}

/// Default of [`SmsGuardBuilder::max_tracked_numbers`].
const MAX_TRACKED_NUMBERS: usize = 100_000;

impl SmsGuard {
    /// Starts the settings: no region yet, mobile numbers
    /// ([`NumberType::DEFAULT_ALLOWED`]), 5 messages per number per hour.
    pub fn builder() -> SmsGuardBuilder {
        SmsGuardBuilder {
            regions: Vec::new(),
            all_regions: false,
            types: NumberType::DEFAULT_ALLOWED.iter().copied().collect(),
            max: 5,
            window: TimeDelta::hours(1),
            max_tracked: MAX_TRACKED_NUMBERS,
            clock: Arc::new(SystemClock),
        }
    }

    /// Checks `to` against the policy and counts one send to it.
    ///
    /// # Errors
    /// [`GuardError::InvalidNumber`] (malformed or not canonical) or
    /// [`GuardError::NotValid`]; then, for a valid number,
    /// [`GuardError::NoRegion`], [`GuardError::RegionNotAllowed`],
    /// [`GuardError::NumberTypeNotAllowed`], [`GuardError::QuotaExceeded`]
    /// or [`GuardError::TooManyDestinations`], in this order. A refused
    /// send is not counted.
    pub fn check(&self, to: &str) -> Result<PhoneNumber, GuardError> {
        let number = PhoneNumber::parse(to)?;
        let (region, number_type) = classify(&number)?;
        if self.regions.as_ref().is_some_and(|r| !r.contains(&region)) {
            return Err(GuardError::RegionNotAllowed { region });
        }
        if !self.types.contains(&number_type) {
            return Err(GuardError::NumberTypeNotAllowed { number_type });
        }
        let now = self.clock.now();
        let horizon = now - self.window;
        let mut sent = self.sent.lock().unwrap_or_else(PoisonError::into_inner);
        let sent = &mut *sent;
        sent.expire(horizon);
        let key = match sent.by_number.get_key_value(number.as_str()) {
            Some((key, _)) => Arc::clone(key),
            None if sent.by_number.len() >= self.max_tracked => {
                let oldest = sent.expiry.front().map_or(now, |(at, _)| *at);
                return Err(GuardError::TooManyDestinations {
                    retry_after: (oldest + self.window - now).max(TimeDelta::seconds(1)),
                });
            }
            None => Arc::from(number.as_str()),
        };
        let times = sent.by_number.entry(Arc::clone(&key)).or_default();
        while times.front().is_some_and(|t| *t <= horizon) {
            times.pop_front();
        }
        if times.len() >= self.max {
            let oldest = times.front().copied().unwrap_or(now);
            return Err(GuardError::QuotaExceeded {
                retry_after: oldest + self.window - now,
            });
        }
        times.push_back(now);
        sent.expiry.push_back((now, key));
        Ok(number)
    }
}

/// The region and type libphonenumber gives `number`.
fn classify(number: &PhoneNumber) -> Result<(Region, NumberType), GuardError> {
    let parsed = phonenumber::parse(None, number.as_str()).map_err(|_| GuardError::NotValid)?;
    if !parsed.is_valid_with(&DATABASE) {
        return Err(GuardError::NotValid);
    }
    // The parser drops a national prefix written after the calling code
    // (`+41 0 79…`); such a spelling would reach the provider as typed and
    // count apart from the canonical one in the quota.
    let canonical = parsed.format().mode(phonenumber::Mode::E164).to_string();
    if canonical != number.as_str() {
        return Err(GuardError::InvalidNumber);
    }
    let region = parsed
        .metadata(&DATABASE)
        .and_then(Region::of)
        .ok_or(GuardError::NoRegion)?;
    Ok((region, parsed.number_type(&DATABASE).into()))
}

#[cfg(test)]
mod tests {
    //! Numbers are libphonenumber's own example numbers (metadata 9.0.x),
    //! so they are valid for the metadata the crate embeds.

    use super::*;
    use mfa_core::clock::ManualClock;

    fn only(regions: &[&str]) -> SmsGuard {
        SmsGuard::builder()
            .allow_regions(regions)
            .quota(1000, TimeDelta::hours(1))
            .build()
            .unwrap()
    }

    fn region(code: &str) -> Region {
        code.parse().unwrap()
    }

    fn refused_type(guard: &SmsGuard, number: &str) -> NumberType {
        match guard.check(number) {
            Err(GuardError::NumberTypeNotAllowed { number_type }) => number_type,
            other => panic!("{number}: expected a refused number type, got {other:?}"),
        }
    }

    #[test]
    fn e164_is_strict() {
        for ok in ["+41791234567", "+12025550123", "+4930123456"] {
            assert!(PhoneNumber::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "+",
            "41791234567",
            "+041791234567",
            "+41 79 123 45 67",
            "+41-791234567",
            "+1234567890123456",
            "+123456",
            "+4179123456a",
            "alice@example.com",
        ] {
            assert_eq!(
                PhoneNumber::parse(bad),
                Err(GuardError::InvalidNumber),
                "{bad}"
            );
        }
    }

    #[test]
    fn national_prefix_after_the_calling_code_is_refused() {
        // The metadata reads both as +41 79 123 45 67 and +44 7400 123456;
        // only the canonical spelling may be sent and counted.
        let guard = only(&["CH", "GB"]);
        assert_eq!(guard.check("+410791234567"), Err(GuardError::InvalidNumber));
        assert_eq!(
            guard.check("+4407400123456"),
            Err(GuardError::InvalidNumber)
        );
        assert!(guard.check("+41791234567").is_ok());
    }

    #[test]
    fn numbers_the_metadata_says_are_not_valid_are_refused() {
        let guard = SmsGuard::builder().allow_all_regions().build().unwrap();
        for bad in [
            "+99912345678",    // unassigned calling code
            "+4179123456789",  // Swiss mobile range, too long
            "+49900123456789", // German premium range, too long
            "+88212345678",    // unassigned international-network range
        ] {
            assert_eq!(guard.check(bad), Err(GuardError::NotValid), "{bad}");
        }
    }

    #[test]
    fn caribbean_nanp_numbers_are_refused_when_only_us_is_allowed() {
        let guard = only(&["US"]);
        for (number, expected) in [
            ("+18762101234", "JM"), // Jamaica, mobile
            ("+18092345678", "DO"), // Dominican Republic, 809
            ("+18292345678", "DO"), // 829
            ("+18492345678", "DO"), // 849
            ("+14734031234", "GD"), // Grenada, mobile
            ("+12684641234", "AG"), // Antigua and Barbuda, mobile
        ] {
            assert_eq!(
                guard.check(number),
                Err(GuardError::RegionNotAllowed {
                    region: region(expected)
                }),
                "{number}"
            );
        }
    }

    #[test]
    fn us_number_is_accepted_when_us_is_allowed() {
        assert!(only(&["US"]).check("+12015550123").is_ok());
    }

    #[test]
    fn canada_is_told_apart_from_the_us() {
        let canada = "+15062345678";
        let us = "+12015550123";
        assert_eq!(
            only(&["US"]).check(canada),
            Err(GuardError::RegionNotAllowed {
                region: region("CA")
            })
        );
        assert_eq!(
            only(&["CA"]).check(us),
            Err(GuardError::RegionNotAllowed {
                region: region("US")
            })
        );
        assert!(only(&["CA"]).check(canada).is_ok());
    }

    #[test]
    fn premium_rate_numbers_are_refused() {
        let guard = only(&["GB", "CH", "DE", "FR", "US"]);
        for number in [
            "+449012345678", // UK 09
            "+448431234567", // UK 0843 (premium in the metadata)
            "+448701234567", // UK 0870 (premium in the metadata)
            "+41900123456",  // Swiss 0900
            "+41901123456",  // Swiss 0901
            "+41906123456",  // Swiss 0906
            "+499001234567", // German 0900
            "+33891123456",  // French 08 91
            "+19002345678",  // US 1-900
        ] {
            assert_eq!(
                refused_type(&guard, number),
                NumberType::PremiumRate,
                "{number}"
            );
        }
    }

    #[test]
    fn shared_cost_numbers_are_refused() {
        let guard = only(&["CH", "DE", "FR"]);
        for number in ["+41840123456", "+4918012345", "+33884012345"] {
            assert_eq!(
                refused_type(&guard, number),
                NumberType::SharedCost,
                "{number}"
            );
        }
    }

    #[test]
    fn toll_free_numbers_are_refused() {
        let guard = only(&["US", "CH", "GB"]);
        for number in ["+18002345678", "+41800123456", "+448001234567"] {
            assert_eq!(
                refused_type(&guard, number),
                NumberType::TollFree,
                "{number}"
            );
        }
    }

    #[test]
    fn voip_pager_uan_personal_and_voicemail_numbers_are_refused() {
        let guard = only(&["GB", "CH"]);
        for (number, expected) in [
            ("+445612345678", NumberType::Voip),
            ("+41740123456", NumberType::Pager),
            ("+41581234567", NumberType::Uan),
            ("+447012345678", NumberType::PersonalNumber),
            ("+41860123456789", NumberType::Voicemail),
        ] {
            assert_eq!(refused_type(&guard, number), expected, "{number}");
        }
    }

    #[test]
    fn swiss_mobile_is_accepted() {
        let guard = only(&["CH"]);
        assert!(guard.check("+41781234567").is_ok());
        assert!(guard.check("+41791234567").is_ok());
    }

    #[test]
    fn swiss_fixed_line_is_refused_under_the_default_policy() {
        assert_eq!(
            refused_type(&only(&["CH"]), "+41212345678"),
            NumberType::FixedLine
        );
    }

    #[test]
    fn swiss_fixed_line_is_accepted_when_fixed_lines_are_allowed() {
        let guard = SmsGuard::builder()
            .allow_regions(["CH"])
            .allow_types([NumberType::FixedLine])
            .build()
            .unwrap();
        assert!(guard.check("+41212345678").is_ok());
        // Widening keeps the defaults and nothing else.
        assert!(guard.check("+41791234567").is_ok());
        assert_eq!(
            refused_type(&guard, "+41900123456"),
            NumberType::PremiumRate
        );
    }

    #[test]
    fn all_regions_still_refuses_non_geographic_and_premium_numbers() {
        let guard = SmsGuard::builder().allow_all_regions().build().unwrap();
        assert!(guard.check("+18762101234").is_ok());
        assert_eq!(guard.check("+881612345678"), Err(GuardError::NoRegion)); // satellite
        assert_eq!(guard.check("+80012345678"), Err(GuardError::NoRegion)); // freephone
        assert_eq!(
            refused_type(&guard, "+19002345678"),
            NumberType::PremiumRate
        );
    }

    #[test]
    fn region_codes_are_validated() {
        for bad in ["UK", "ch", "XX", "001", "", " CH", "+41", "CHE"] {
            assert_eq!(
                SmsGuard::builder().allow_regions([bad]).build().err(),
                Some(GuardConfigError::UnknownRegion(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert_eq!(
            SmsGuard::builder().build().err(),
            Some(GuardConfigError::NoRegions)
        );
        assert_eq!(
            SmsGuard::builder()
                .allow_regions(Vec::<String>::new())
                .build()
                .err(),
            Some(GuardConfigError::NoRegions)
        );
        assert_eq!(
            SmsGuard::builder()
                .allow_regions(["CH"])
                .allow_all_regions()
                .build()
                .err(),
            Some(GuardConfigError::ConflictingRegions)
        );
        assert_eq!(
            SmsGuard::builder()
                .allow_all_regions()
                .quota(0, TimeDelta::hours(1))
                .build()
                .err(),
            Some(GuardConfigError::InvalidQuota)
        );
        assert!(
            SmsGuard::builder()
                .allow_regions(["CH", "GB", "US"])
                .build()
                .is_ok()
        );
    }

    #[test]
    fn number_type_names_round_trip() {
        for &t in NumberType::ALL {
            assert_eq!(t.to_string().parse::<NumberType>(), Ok(t));
        }
        assert_eq!(
            "premium_rate".parse::<NumberType>(),
            Err(GuardConfigError::UnknownNumberType("premium_rate".into()))
        );
    }

    #[test]
    fn policy_refusals_are_rejections_and_invalid_numbers_invalid_destinations() {
        let guard = only(&["US"]);
        let refused = DeliveryError::from(guard.check("+18762101234").unwrap_err());
        let DeliveryError::Rejected(reason) = refused else {
            panic!("expected a rejection, got {refused:?}");
        };
        assert_eq!(reason, "destination region JM not allowed");
        assert_eq!(
            DeliveryError::from(guard.check("+19002345678").unwrap_err()).to_string(),
            "message rejected: destination number type premium-rate not allowed"
        );
        assert!(matches!(
            DeliveryError::from(guard.check("+99912345678").unwrap_err()),
            DeliveryError::InvalidDestination
        ));
    }

    #[test]
    fn refusals_and_debug_do_not_show_the_number() {
        let guard = only(&["US"]);
        for number in [
            "+18762101234",
            "+19002345678",
            "+99912345678",
            "+881612345678",
        ] {
            let e = guard.check(number).unwrap_err();
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains(&number[2..]), "{shown}");
            }
        }
        assert!(guard.check("+12015550123").is_ok());
        assert!(!format!("{guard:?}").contains("2015550123"));
    }

    #[test]
    fn refused_destination_is_not_counted() {
        let guard = SmsGuard::builder()
            .allow_regions(["CH"])
            .quota(1, TimeDelta::hours(1))
            .build()
            .unwrap();
        assert!(guard.check("+41212345678").is_err());
        assert!(guard.check("+41212345678").is_err());
        assert_eq!(guard.sent.lock().unwrap().by_number.len(), 0);
    }

    #[test]
    fn quota_is_a_sliding_window() {
        let clock = Arc::new(ManualClock::default());
        let guard = SmsGuard::builder()
            .allow_regions(["CH"])
            .quota(2, TimeDelta::minutes(10))
            .clock(clock.clone())
            .build()
            .unwrap();
        let n = "+41791234567";
        assert!(guard.check(n).is_ok());
        clock.advance(TimeDelta::minutes(6));
        assert!(guard.check(n).is_ok());
        assert_eq!(
            guard.check(n),
            Err(GuardError::QuotaExceeded {
                retry_after: TimeDelta::minutes(4)
            })
        );
        // Other numbers have their own window.
        assert!(guard.check("+41791234568").is_ok());
        clock.advance(TimeDelta::minutes(4));
        assert!(guard.check(n).is_ok());
        assert!(guard.check(n).is_err());
    }

    fn tracked(guard: &SmsGuard) -> (usize, usize) {
        let sent = guard.sent.lock().unwrap();
        (sent.by_number.len(), sent.expiry.len())
    }

    #[test]
    fn numbers_whose_window_passed_are_forgotten_a_few_per_check() {
        let clock = Arc::new(ManualClock::default());
        let guard = SmsGuard::builder()
            .allow_regions(["CH"])
            .quota(2, TimeDelta::minutes(10))
            .clock(clock.clone())
            .build()
            .unwrap();
        for n in 0..10 {
            assert!(guard.check(&format!("+4179123450{n}")).is_ok());
        }
        assert_eq!(tracked(&guard), (10, 10));
        clock.advance(TimeDelta::minutes(10));
        // Each check forgets two expired sends and adds its own.
        let fresh = "+41791234599";
        for _ in 0..2 {
            assert!(guard.check(fresh).is_ok());
        }
        assert_eq!(tracked(&guard), (7, 8));
        for _ in 0..3 {
            let _ = guard.check(fresh);
        }
        // The ten old numbers are gone; only `fresh` is left.
        assert_eq!(tracked(&guard), (1, 2));
    }

    #[test]
    fn tracked_numbers_are_capped() {
        let clock = Arc::new(ManualClock::default());
        let guard = SmsGuard::builder()
            .allow_regions(["CH"])
            .quota(5, TimeDelta::minutes(10))
            .max_tracked_numbers(3)
            .clock(clock.clone())
            .build()
            .unwrap();
        for n in 0..3 {
            assert!(guard.check(&format!("+4179123450{n}")).is_ok());
            clock.advance(TimeDelta::minutes(1));
        }
        assert_eq!(
            guard.check("+41791234509"),
            Err(GuardError::TooManyDestinations {
                retry_after: TimeDelta::minutes(7)
            })
        );
        // Numbers already tracked still pass.
        assert!(guard.check("+41791234500").is_ok());
        assert_eq!(tracked(&guard).0, 3);
        // Once a number's last send left the window, there is room again
        // (+41791234500 sent again, so its number stays).
        clock.advance(TimeDelta::minutes(8));
        assert!(guard.check("+41791234509").is_ok());
        assert_eq!(tracked(&guard).0, 3);
        assert!(matches!(
            SmsGuard::builder()
                .allow_all_regions()
                .max_tracked_numbers(0)
                .build(),
            Err(GuardConfigError::InvalidQuota)
        ));
    }
}
