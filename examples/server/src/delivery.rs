//! Delivery channels from the configuration: SMTP and Twilio when
//! configured; otherwise, in development, the log channel or the outbox
//! file. Production refuses both development channels.

use crate::config::{Config, ConfigError, DevDelivery, Mode};
use crate::outbox::OutboxChannel;
use chrono::TimeDelta;
use mfa_core::delivery::DeliveryChannel;
use mfa_core::model::OtpChannel;
use mfa_delivery::log::LogChannel;
use mfa_delivery::phone::SmsGuard;
use mfa_delivery::sms::{TwilioConfig, TwilioSender, TwilioSms};
use mfa_delivery::smtp::{SmtpChannel, SmtpConfig};
use std::sync::Arc;

/// The email and SMS channels (either may be absent: that method is off).
pub struct Channels {
    /// Email.
    pub email: Option<Arc<dyn DeliveryChannel>>,
    /// SMS.
    pub sms: Option<Arc<dyn DeliveryChannel>>,
}

fn dev_channel(
    config: &Config,
    channel: OtpChannel,
) -> Result<Option<Arc<dyn DeliveryChannel>>, ConfigError> {
    let mode = config.mode;
    Ok(match config.dev_delivery {
        DevDelivery::None => None,
        DevDelivery::Log => {
            let env = match mode {
                Mode::Production => "production",
                Mode::Development => "development",
            };
            let log = LogChannel::with_env(channel, |_| Some(env.to_owned()))
                .map_err(|e| ConfigError::new("MFA_DELIVERY", e.to_string()))?;
            Some(Arc::new(log))
        }
        DevDelivery::Outbox => {
            if mode == Mode::Production {
                return Err(ConfigError::new(
                    "MFA_DELIVERY",
                    "the outbox channel is refused in production",
                ));
            }
            Some(Arc::new(OutboxChannel::new(channel, &config.data_dir)))
        }
    })
}

/// Builds the channels.
///
/// # Errors
/// A development channel in production, or an invalid SMTP/Twilio setting.
pub fn channels(config: &Config) -> Result<Channels, ConfigError> {
    let email: Option<Arc<dyn DeliveryChannel>> = match &config.smtp {
        Some(s) => {
            let mut smtp = SmtpConfig::new(s.host.clone(), s.from.clone());
            smtp.port = s.port;
            smtp.credentials = s.credentials.clone();
            Some(Arc::new(SmtpChannel::new(smtp).map_err(|e| {
                ConfigError::new("MFA_SMTP_HOST", e.to_string())
            })?))
        }
        None => dev_channel(config, OtpChannel::Email)?,
    };
    let sms: Option<Arc<dyn DeliveryChannel>> = match &config.twilio {
        Some(t) => {
            let sender = if t.from.starts_with("MG") {
                TwilioSender::MessagingService(t.from.clone())
            } else {
                TwilioSender::From(t.from.clone())
            };
            let guard = if t.regions.is_empty() {
                SmsGuard::builder().allow_all_regions()
            } else {
                SmsGuard::builder().allow_regions(t.regions.iter().map(|r| r.as_str()))
            }
            .quota(5, TimeDelta::hours(1))
            .build()
            .map_err(|e| ConfigError::new("MFA_SMS_REGIONS", e.to_string()))?;
            let config = TwilioConfig::new(t.account_sid.clone(), t.auth_token.clone(), sender);
            Some(Arc::new(TwilioSms::new(config, guard).map_err(|e| {
                ConfigError::new("MFA_TWILIO_ACCOUNT_SID", e.to_string())
            })?))
        }
        None => dev_channel(config, OtpChannel::Sms)?,
    };
    Ok(Channels { email, sms })
}
