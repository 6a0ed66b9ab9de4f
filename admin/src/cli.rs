//! The command line: every command, its arguments and their help.

use crate::failure::EXIT_CODES;
use clap::{Parser, Subcommand};
use otp_shared::domain::client::ClientSettings;

#[derive(Parser)]
#[command(
    name = "otp-admin",
    version,
    about = "Operate the OTP login service: clients, users, test numbers, signing key",
    after_help = EXIT_CODES
)]
pub struct Cli {
    /// The DynamoDB table (the stack's `TableName` output).
    #[arg(long, env = "OTP_TABLE_NAME", global = true, default_value = "")]
    pub table: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create, list, disable and configure clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// The user directory, for clients that serve registered users only.
    #[command(subcommand)]
    Users(UsersCommand),
    /// A client's SMS providers, with their secrets in Secrets Manager.
    #[command(subcommand)]
    Providers(ProvidersCommand),
    /// Numbers with a fixed code that are never texted (refused in prod).
    #[command(subcommand)]
    TestNumber(TestNumberCommand),
    /// The KMS key that signs access tokens: status and staged rotation.
    #[command(subcommand)]
    SigningKey(SigningKeyCommand),
}

#[derive(Subcommand)]
pub enum ProvidersCommand {
    /// Sets a client's SMS providers, in the order they are tried, from a
    /// JSON file (`-`: standard input), e.g. `[{"kind": "esms", "secret":
    /// {"api_key": "…", "secret_key": "…"}}, {"kind": "sns"}]`. Each
    /// `secret` is stored in Secrets Manager as
    /// `<stack>/sms-provider/<client>/<kind>` (a new version if it is
    /// there), the only secrets the functions may read, and the client
    /// names it by ARN; a provider may name a secret of that form by
    /// `secret_arn` instead. Secrets are never printed. Functions use the
    /// providers within 60 s, a changed secret within 5 minutes.
    Set {
        /// The client.
        #[arg(long)]
        id: String,
        /// The stack's name, which the secrets' names begin with.
        #[arg(long, env = "OTP_STACK_NAME")]
        stack: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// Creates a client; prints its id and secret (the secret only this once).
    Create(Box<CreateArgs>),
    /// Lists clients: id, state, brand and sender ids (never secrets).
    List,
    /// Shows a client: its state, whether a replaced secret still works,
    /// and every setting under the name `set` takes (never a secret).
    Show {
        #[arg(long)]
        id: String,
    },
    /// Changes settings: `--set NAME=VALUE`, repeatable, with NAME as
    /// `show` lists it and VALUE in JSON (text may be given bare; null
    /// restores a default), e.g. `--set sends_per_phone_per_hour=3 --set
    /// allowed_calling_codes='["66","84"]' --set callers_are_end_users=true`.
    /// The result is validated as the service validates stored settings;
    /// functions see it within 60 s (their cache of client records).
    Set {
        #[arg(long)]
        id: String,
        #[arg(long = "set", value_name = "NAME=VALUE", required = true)]
        assignments: Vec<String>,
    },
    /// Disables a client: its secret stops working at once (cached up to 60 s).
    Disable {
        #[arg(long)]
        id: String,
    },
    /// Enables a disabled client: its secret works again (within 60 s).
    Enable {
        #[arg(long)]
        id: String,
    },
    /// Deletes a disabled client and its directory users.
    Delete {
        #[arg(long)]
        id: String,
    },
    /// Gives a client a new secret, printed this once. The old one keeps
    /// working beside it until `retire-secret`, so apps move over without
    /// an outage; the new one works everywhere within 60 s.
    RotateSecret {
        #[arg(long)]
        id: String,
        /// Rotate although the secret the last rotation replaced still
        /// works: that one stops working at once.
        #[arg(long)]
        force: bool,
    },
    /// The secret `rotate-secret` replaced stops working (within 60 s).
    RetireSecret {
        #[arg(long)]
        id: String,
    },
    /// Registers one more sender id for a client.
    AddSender {
        #[arg(long)]
        id: String,
        #[arg(long = "sender-id")]
        sender_id: String,
    },
    /// Sets the lines that let phones fill the code in by themselves (set a
    /// value to "" to remove it). Every template must still fit one SMS.
    SetAutofill {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        autofill: Autofill,
    },
    /// Sets a client's message template for a locale.
    SetTemplate {
        #[arg(long)]
        id: String,
        #[arg(long)]
        locale: String,
        /// Must contain {OTP}.
        #[arg(long)]
        text: String,
    },
}

/// What a new client is.
#[derive(clap::Args)]
pub struct CreateArgs {
    /// Letters, digits, `-` and `_`; at most 64.
    #[arg(long)]
    pub id: String,
    /// Shown in messages as {BRAND}.
    #[arg(long, default_value = "OTP")]
    pub brand: String,
    /// A registered SNS sender id; repeat for more, the first is the
    /// default. None: the stack's SenderId.
    #[arg(long = "sender-id")]
    pub sender_ids: Vec<String>,
    /// `LOCALE=TEXT` with {OTP} (and {REF}, {MINUTES}, {BRAND}); repeatable.
    #[arg(long = "template")]
    pub templates: Vec<String>,
    /// The locale used when a request names none.
    #[arg(long, default_value = "en")]
    pub default_locale: String,
    /// 4 to 10; default: the stack's CodeLength.
    #[arg(long)]
    pub code_length: Option<u8>,
    /// `digits` or `alphanumeric`.
    #[arg(long, default_value = "digits")]
    pub charset: String,
    /// 120 to 600; default: the stack's CodeLifetimeSeconds.
    #[arg(long)]
    pub lifetime_secs: Option<u32>,
    /// For national forms like 08x…; required unless exactly one
    /// --allowed-calling-code is given.
    #[arg(long)]
    pub default_calling_code: Option<String>,
    /// Repeatable; none means the deployment's list.
    #[arg(long = "allowed-calling-code")]
    pub allowed_calling_codes: Vec<String>,
    /// A line type that receives the client's SMS, as libphonenumber
    /// names it (MOBILE, FIXED_LINE_OR_MOBILE, FIXED_LINE, VOIP, …);
    /// repeatable. None: MOBILE and FIXED_LINE_OR_MOBILE.
    #[arg(long = "allowed-line-type")]
    pub allowed_line_types: Vec<String>,
    /// Confirm answers "Code is correct." instead of issuing tokens.
    #[arg(long)]
    pub no_tokens: bool,
    /// Only users in the directory may log in.
    #[arg(long)]
    pub registered_users_only: bool,
    /// The One ID routes answer an unregistered number (or another ID
    /// card) with One ID's own 404s; otherwise as a known number.
    #[arg(long)]
    pub reveal_unknown_users: bool,
    #[command(flatten)]
    pub autofill: Autofill,
}

/// The autofill lines every SMS of a client ends with.
#[derive(clap::Args)]
pub struct Autofill {
    /// WebOTP and iOS: the host whose pages may read the code, e.g.
    /// login.example.com; adds the last line `@<host> #<code>`.
    #[arg(long)]
    pub webotp_domain: Option<String>,
    /// Android SMS Retriever: the app's 11-character hash, on a line of its
    /// own.
    #[arg(long)]
    pub android_app_hash: Option<String>,
}

impl Autofill {
    /// Sets what was given; an empty value removes the line.
    pub fn apply(self, settings: &mut ClientSettings) {
        let given = |value: Option<String>, current: &mut Option<String>| {
            if let Some(value) = value {
                *current = (!value.is_empty()).then_some(value);
            }
        };
        given(self.webotp_domain, &mut settings.webotp_domain);
        given(self.android_app_hash, &mut settings.android_app_hash);
    }
}

#[derive(Subcommand)]
pub enum UsersCommand {
    /// Registers the users of a file for the clients named: lines of
    /// `mobile[,id_card[,username[,account_id]]]` (a header line is
    /// skipped; fields after the number may be left out or empty: the
    /// account id is then the one a login derives, the username the
    /// account id). National numbers take each client's default calling
    /// code. The whole file is checked, for every client, before anything
    /// is written. Needs the deployment's server secret:
    /// OTP_SERVER_SECRET_ARN (the stack's secret) or OTP_SERVER_SECRET.
    Import {
        #[arg(long)]
        file: std::path::PathBuf,
        /// The client the users are registered for; repeat for more. A user
        /// is registered for no other client (DESIGN §5.9).
        #[arg(long = "client", required = true)]
        clients: Vec<String>,
        /// Check the file against the clients and say what would be
        /// written, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub enum TestNumberCommand {
    /// Gives a client a test number with a fixed code.
    Add {
        #[arg(long)]
        id: String,
        /// E.164, e.g. +66899990000.
        #[arg(long)]
        number: String,
        #[arg(long)]
        code: String,
    },
    /// Takes a test number away from a client.
    Remove {
        #[arg(long)]
        id: String,
        #[arg(long)]
        number: String,
    },
}

#[derive(Subcommand)]
pub enum SigningKeyCommand {
    /// Shows the keys behind the aliases (current, next, previous), the
    /// `kid` each is published under, and their age.
    Status {
        /// The stack's `SigningKeyAlias` output.
        #[arg(long, env = "OTP_SIGNING_KEY_ALIAS")]
        alias: String,
    },
    /// Runs one stage of a rotation. The first run creates a key and only
    /// publishes it (alias `-next`); the second, once it has been published
    /// for --min-published-minutes, makes it sign and keeps the key it
    /// replaces published as `-previous`.
    Rotate {
        /// The stack's `SigningKeyAlias` output.
        #[arg(long, env = "OTP_SIGNING_KEY_ALIAS")]
        alias: String,
        /// How long the new key must be published before it signs: longer
        /// than the functions' 5-minute alias refresh and than any
        /// verifier's JWKS cache.
        #[arg(long, default_value_t = 60)]
        min_published_minutes: u64,
        /// Promote now, whatever the next key's age.
        #[arg(long)]
        force: bool,
    },
}
