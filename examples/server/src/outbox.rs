//! Development delivery: messages go to a file, not to people.
//!
//! Each message is appended as one JSON line to `outbox.jsonl` in the data
//! directory (the developer's mailbox), rendered with the shipped
//! templates; the log records only the masked destination, the kind and
//! the language, never the code. Production refuses this
//! channel.

use async_trait::async_trait;
use mfa_core::delivery::{DeliveryChannel, DeliveryError, Message, mask_destination};
use mfa_core::model::OtpChannel;
use mfa_core::template::Templates;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Name of the outbox file in the data directory.
pub const OUTBOX_FILE: &str = "outbox.jsonl";

/// A delivery channel that writes messages to the development outbox.
#[derive(Debug)]
pub struct OutboxChannel {
    channel: OtpChannel,
    path: PathBuf,
    lock: Mutex<()>,
}

impl OutboxChannel {
    /// A channel for `channel` destinations writing to `data_dir/outbox.jsonl`.
    #[must_use]
    pub fn new(channel: OtpChannel, data_dir: &Path) -> Self {
        Self {
            channel,
            path: data_dir.join(OUTBOX_FILE),
            lock: Mutex::new(()),
        }
    }
}

#[async_trait]
impl DeliveryChannel for OutboxChannel {
    fn channel(&self) -> OtpChannel {
        self.channel
    }

    async fn send(&self, message: &Message) -> Result<(), DeliveryError> {
        let kind = match message {
            Message::Otp(_) => "code",
            Message::Notification(_) => "notification",
            Message::Link(_) => "link",
        };
        let rendered = Templates::shipped().render(message)?;
        let mut line = serde_json::json!({
            "at": chrono::Utc::now(),
            "channel": self.channel,
            "kind": kind,
            "to": message.to(),
            "subject": rendered.subject,
            "text": rendered.text,
        });
        // The token on its own line too, as the code is the subject's first
        // word: what a developer (or a test) copies.
        if let Message::Link(link) = message {
            line["token"] = link.token.expose().into();
            line["purpose"] = link.purpose.as_str().into();
        }
        {
            let _guard = self
                .lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| DeliveryError::Transient(e.kind().to_string()))?;
            writeln!(file, "{line}").map_err(|e| DeliveryError::Transient(e.kind().to_string()))?;
        }
        tracing::info!(
            channel = self.channel.as_str(),
            to = %mask_destination(message.to()),
            kind,
            language = rendered.language,
            "development delivery: message written to the outbox"
        );
        Ok(())
    }
}
