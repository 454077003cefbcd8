//! The mail settings `picloud serve` and `picloud-manager` share: the relay
//! for `email::send`, and the SMTP listener for inbound mail.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use manager_core::email::{EmailConfig, SmtpRelay};
use manager_core::smtp_in::SmtpInConfig;

/// Mail flags; each also reads its `PICLOUD_*` variable.
#[derive(Debug, Clone, clap::Args)]
pub struct MailArgs {
    /// The SMTP relay `email::send` delivers through:
    /// smtp://user:pass@host:587 (STARTTLS required), smtps://host:465
    /// (implicit TLS), or smtp://127.0.0.1:25?tls=none (plain, loopback
    /// only). Without it, scripts' `email::send` fails saying mail is not
    /// set up.
    #[arg(long, env = "PICLOUD_SMTP_URL", hide_env_values = true, global = true)]
    pub smtp_url: Option<String>,
    /// The sender when a script names none (`PiCloud <noreply@example.com>`);
    /// any app may send from it. Scripts may otherwise send only from
    /// addresses at their app's domains.
    #[arg(long, env = "PICLOUD_SMTP_FROM", global = true)]
    pub smtp_from: Option<String>,
    /// Messages each app may send per hour.
    #[arg(long, env = "PICLOUD_EMAIL_PER_HOUR", default_value_t = manager_core::email::DEFAULT_PER_HOUR, global = true)]
    pub email_per_hour: u32,
    /// Accept inbound mail over SMTP on this address (e.g. 0.0.0.0:25), for
    /// the apps' email triggers: only for addresses at domains an app
    /// claims (never a relay). Off by default.
    #[arg(long, env = "PICLOUD_SMTP_LISTEN", global = true)]
    pub smtp_listen: Option<SocketAddr>,
    /// Largest inbound message, in bytes.
    #[arg(long, env = "PICLOUD_SMTP_MAX_BYTES", default_value_t = manager_core::smtp_in::DEFAULT_MAX_BYTES, global = true)]
    pub smtp_max_bytes: usize,
    /// An inbound SMTP client that sends no command for this long is
    /// disconnected (e.g. 60s).
    #[arg(long, env = "PICLOUD_SMTP_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration, global = true)]
    pub smtp_timeout: Duration,
}

impl MailArgs {
    /// The outgoing side, checked: a bad URL or sender stops the start
    /// with a sentence naming the setting.
    pub fn email(&self) -> anyhow::Result<EmailConfig> {
        let relay = self
            .smtp_url
            .as_deref()
            .map(str::parse::<SmtpRelay>)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("PICLOUD_SMTP_URL")?;
        let default_from = self
            .smtp_from
            .as_deref()
            .map(manager_core::email::parse_mailbox)
            .transpose()
            .map_err(anyhow::Error::msg)
            .context("PICLOUD_SMTP_FROM")?;
        Ok(EmailConfig {
            relay,
            default_from,
            per_hour: self.email_per_hour,
        })
    }

    /// The inbound side.
    pub fn smtp_in(&self) -> SmtpInConfig {
        SmtpInConfig {
            listen: self.smtp_listen,
            max_bytes: self.smtp_max_bytes,
            command_timeout: self.smtp_timeout,
            ..SmtpInConfig::default()
        }
    }

    /// For `picloud config`: the settings, the relay's password masked.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let off = || "(off)".to_owned();
        vec![
            (
                "smtp_url",
                self.smtp_url
                    .as_deref()
                    .map(|u| {
                        u.parse::<SmtpRelay>()
                            .map_or_else(|e| format!("(invalid: {e})"), |r| r.to_string())
                    })
                    .unwrap_or_else(off),
            ),
            (
                "smtp_from",
                self.smtp_from.clone().unwrap_or_else(|| "(none)".into()),
            ),
            ("email_per_hour", self.email_per_hour.to_string()),
            (
                "smtp_listen",
                self.smtp_listen.map_or_else(off, |a| a.to_string()),
            ),
            ("smtp_max_bytes", format!("{} bytes", self.smtp_max_bytes)),
            (
                "smtp_timeout",
                humantime::format_duration(self.smtp_timeout).to_string(),
            ),
        ]
    }
}
