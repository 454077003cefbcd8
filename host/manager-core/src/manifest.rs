//! Apps as code: `picloud.toml` (docs/manifest.md).
//!
//! A folder describes an app: this manifest plus the `.rhai` files it names.
//! The CLI uploads the manifest's text and the files; the server parses the
//! text here (so every client gets the same errors, with line and key),
//! checks it against the current state of the app and the server, and turns
//! the difference into a [`Plan`]: the changes a deploy shows and the one
//! transaction `store::manifest` applies. Export goes the other way and
//! renders an app as a canonical manifest, so export → deploy → export gives
//! the same bytes.

use std::collections::BTreeMap;
use std::ops::Range;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use toml::Spanned;

/// The file name of a manifest in an app's folder.
pub const MANIFEST_FILE: &str = "picloud.toml";

/// `picloud.toml`: everything an app is, except its data and the values of
/// its secrets.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "PiCloud app manifest (picloud.toml)")]
pub struct Manifest {
    /// The app's slug: 1-63 lower-case letters, digits and hyphens. `picloud
    /// deploy --app <slug>` deploys the same folder under another slug.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Host patterns the app answers on, e.g. `shop.example.com` or
    /// `{tenant}.shop.example.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub domains: Vec<Spanned<String>>,
    /// Origins scripts may call with `http::*`: a scheme, a host (`*.` for
    /// any subdomain) and an optional port, e.g. `https://api.example.com`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub http_allow: Vec<Spanned<String>>,
    /// Names of the secrets the app's scripts read with `env::get`. Their
    /// values are never in files: set them with the API or the dashboard; a
    /// deploy reports the ones that are missing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<String>")]
    pub secrets: Vec<Spanned<String>>,
    /// Plain (non-secret) variables, read with `env::get`. (Names keep
    /// their place in the text, so a problem with one names its line.)
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub variables: BTreeMap<Spanned<String>, String>,
    /// Per-app limits; the ones left out take the server's defaults.
    #[serde(default, skip_serializing_if = "ManifestLimits::is_empty")]
    pub limits: ManifestLimits,
    /// CORS: which browser origins may call the app.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<shared::CorsPolicy>,
    /// A request rate limit for the app (token bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<shared::RateLimit>,
    /// Settings for the app's end-user accounts (`users::`): the session
    /// cookie `users::current` reads, and how long a session lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<crate::app_users::UsersSettings>,
    /// The app's scripts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<ScriptEntry>,
    /// HTTP routes, each bound to one of `scripts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<RouteEntry>")]
    pub routes: Vec<Spanned<RouteEntry>>,
    /// Cron triggers, each running one of `scripts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<CronEntry>")]
    pub cron: Vec<Spanned<CronEntry>>,
    /// Queue triggers: each runs one of `scripts` for every message sent
    /// to its queue with `queue::send`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<QueueEntry>")]
    pub queue: Vec<Spanned<QueueEntry>>,
    /// Email triggers: each runs one of `scripts` for every inbound mail to
    /// one address at the app's domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<EmailEntry>")]
    pub email: Vec<Spanned<EmailEntry>>,
    /// Interceptors, in the order they run: each runs one of `scripts`
    /// before the route's script, for the paths starting with its prefix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(with = "Vec<InterceptorEntry>")]
    pub interceptors: Vec<Spanned<InterceptorEntry>>,
    /// Per-target overrides, by slug: `[env.shop-staging]` applies when the
    /// folder is deployed as `shop-staging`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, EnvOverride>,
}

/// `[limits]`: overrides of the server's per-app defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManifestLimits {
    /// Fuel per execution (interpreter work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Guest memory, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Wall-clock deadline per execution, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    /// Largest response, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// Log lines kept per execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_lines: Option<u64>,
    /// Log bytes kept per execution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_log_bytes: Option<u64>,
    /// Largest request body, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<u64>,
}

impl ManifestLimits {
    fn is_empty(&self) -> bool {
        *self == ManifestLimits::default()
    }

    /// The stored form: a JSON object of the overrides, `None` for none.
    pub(crate) fn to_stored(&self) -> Option<serde_json::Value> {
        let value = serde_json::to_value(self).expect("limits serialize");
        value
            .as_object()
            .is_some_and(|o| !o.is_empty())
            .then_some(value)
    }

    /// From the stored form (unknown keys, which validation never lets in,
    /// are dropped).
    pub(crate) fn from_stored(stored: Option<&serde_json::Value>) -> ManifestLimits {
        stored
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }
}

/// `[[scripts]]`: one script and the file that holds its source.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptEntry {
    /// Unique in the app: 1-100 letters, digits, `-`, `_` or `.`.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The `.rhai` file, relative to the folder of `picloud.toml`.
    #[schemars(with = "String")]
    pub file: Spanned<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// `[[routes]]`: a method and path (and optionally a host) bound to a script.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// `GET`, `POST`, … or `*` for any.
    pub method: String,
    /// e.g. `/users/:id`, or `/files/*` for everything under `/files/`.
    pub path: String,
    /// Only this host (within the app's domains); every domain when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The name of a script in `scripts`.
    pub script: String,
}

/// `[[cron]]`: a schedule that runs a script.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CronEntry {
    /// The name of a script in `scripts`.
    pub script: String,
    /// Five-field cron expression, e.g. `0 3 * * *`.
    pub schedule: String,
    /// IANA time zone the schedule is read in (default `UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `false` keeps the trigger but pauses it.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
}

/// `[[queue]]`: a script that runs for each message of one queue.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueueEntry {
    /// The name of a script in `scripts`.
    pub script: String,
    /// The queue: 1-64 letters, digits, `.`, `_` or `-`; one trigger each.
    pub queue: String,
    /// Runs a message gets before it becomes a dead letter (1-100; 5 when
    /// left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    /// `false` keeps the trigger but pauses it (messages wait).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
}

/// `[[email]]`: a script that runs for each inbound mail to one address.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailEntry {
    /// The name of a script in `scripts`.
    pub script: String,
    /// The local part it receives (`support` for `support@` every domain
    /// the app claims), or `*` for every address without a trigger.
    pub email: String,
    /// Runs a message gets before it becomes a dead letter (1-100; 5 when
    /// left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    /// `false` keeps the trigger but pauses it (mail waits).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
}

/// `[[interceptors]]`: a script that runs before the route's script.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterceptorEntry {
    /// The name of a script in `scripts`.
    pub script: String,
    /// Paths it guards: those starting with it, e.g. `/v1/`; every route
    /// when left out (or `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
}

/// `[env.<slug>]`: what differs when the folder is deployed as `<slug>`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvOverride {
    /// Replaces `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Replaces `domains`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<String>>")]
    pub domains: Option<Vec<Spanned<String>>>,
    /// Merged over `variables`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, String>")]
    pub variables: BTreeMap<Spanned<String>, String>,
}

fn yes() -> bool {
    true
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_true(value: &bool) -> bool {
    *value
}

/// One thing wrong with a manifest or a file it names: where (file, line,
/// column, key), and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `picloud.toml` or a script's file.
    pub file: String,
    /// 1-based.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based, in characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// The key in the manifest, e.g. `routes[2].script`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The error code the same mistake gets from the single-object
    /// endpoints, e.g. `invalid_schedule`.
    pub code: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if let Some(key) = &self.key {
            write!(f, " ({key})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Where problems found in the manifest's text point.
pub(crate) struct Locator<'a> {
    text: &'a str,
}

impl<'a> Locator<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Locator { text }
    }

    /// A problem at `span` of the manifest (no position for an empty span:
    /// values that did not come from the text).
    pub(crate) fn problem(
        &self,
        span: Option<Range<usize>>,
        key: impl Into<String>,
        code: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        let (line, column) = span
            .filter(|s| !s.is_empty() && s.start <= self.text.len())
            .map(|s| line_column(self.text, s.start))
            .unzip();
        Problem {
            file: MANIFEST_FILE.to_owned(),
            line,
            column,
            key: Some(key.into()).filter(|k: &String| !k.is_empty()),
            code: code.into(),
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (u32, u32) {
    let offset = (0..=offset.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Parses `picloud.toml`. A syntax or shape error is one problem with the
/// line, column and key it is about.
pub fn parse(text: &str) -> Result<Manifest, Problem> {
    toml::from_str::<Manifest>(text).map_err(|err| {
        let span = err.span();
        let key = span
            .as_ref()
            .map(|s| key_on_line(text, s.start))
            .unwrap_or_default();
        Locator::new(text).problem(span, key, "invalid_manifest", err.message().trim_end())
    })
}

/// The key a line of TOML sets, or the table it opens: what an error on
/// that line is about.
fn key_on_line(text: &str, offset: usize) -> String {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = text[start..].lines().next().unwrap_or("").trim();
    if let Some(header) = line.strip_prefix('[') {
        return header
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_owned();
    }
    line.split_once('=')
        .map(|(key, _)| key.trim().to_owned())
        .unwrap_or_default()
}

impl Manifest {
    /// The manifest as deployed under `slug`: its `[env.<slug>]` applied.
    pub fn for_target(mut self, slug: &str) -> Manifest {
        if let Some(over) = self.env.remove(slug) {
            if let Some(name) = over.name {
                self.name = name;
            }
            if let Some(domains) = over.domains {
                self.domains = domains;
            }
            self.variables.extend(over.variables);
        }
        self.env.clear();
        self
    }

    /// The canonical text `picloud export` writes: sorted, default values
    /// left out, script files at `scripts/<name>.rhai`.
    pub fn render(&self) -> String {
        let mut text = String::from(
            "# PiCloud app manifest: `picloud deploy <folder>` applies it (docs/manifest.md).\n",
        );
        text.push_str(&toml::to_string(self).expect("a manifest serializes"));
        text
    }
}

/// The canonical path of a script's file in an exported folder.
pub fn script_file(name: &str) -> String {
    format!("scripts/{name}.rhai")
}

/// Lines added and removed between two sources (a deploy plan's summary
/// of a script change).
pub(crate) fn diff_lines(old: &str, new: &str) -> (usize, usize) {
    use similar::{ChangeTag, TextDiff};
    let diff = TextDiff::from_lines(old, new);
    let mut added = 0;
    let mut removed = 0;
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    (added, removed)
}

/// The JSON Schema of `picloud.toml` (draft 2020-12), served at
/// `/api/v1/schemas/manifest.json` and committed as `docs/manifest.schema.json`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).expect("the schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"slug = "shop"
name = "Shop"
domains = ["shop.example.com"]
secrets = ["STRIPE_KEY"]

[variables]
GREETING = "hello"

[limits]
deadline_ms = 2000

[[scripts]]
name = "hello"
file = "scripts/hello.rhai"

[[routes]]
method = "GET"
path = "/hello"
script = "hello"

[[cron]]
script = "hello"
schedule = "0 3 * * *"

[env.shop-staging]
domains = ["staging.shop.example.com"]
variables = { GREETING = "hi, staging" }
"#;

    fn plain(text: &str) -> Spanned<String> {
        Spanned::new(0..0, text.to_owned())
    }

    #[test]
    fn parses_and_applies_an_environment() {
        let manifest = parse(EXAMPLE).unwrap();
        assert_eq!(manifest.scripts[0].name.get_ref(), "hello");
        assert!(manifest.cron[0].get_ref().enabled);
        let staging = manifest.clone().for_target("shop-staging");
        assert_eq!(staging.domains[0].get_ref(), "staging.shop.example.com");
        assert_eq!(staging.variables[&plain("GREETING")], "hi, staging");
        let production = manifest.for_target("shop");
        assert_eq!(production.domains[0].get_ref(), "shop.example.com");
        assert_eq!(production.variables[&plain("GREETING")], "hello");
        // A variable's name keeps its line (7: `GREETING = "hello"`).
        let (name, _) = production.variables.iter().next().unwrap();
        assert_eq!(line_column(EXAMPLE, name.span().start).0, 7);
    }

    #[test]
    fn an_error_names_the_line_and_the_key() {
        let text = "slug = \"shop\"\nname = \"Shop\"\n\n[limits]\nfuel = \"lots\"\n";
        let problem = parse(text).unwrap_err();
        assert_eq!(problem.line, Some(5), "{problem}");
        assert_eq!(problem.key.as_deref(), Some("fuel"), "{problem}");
        let text = "slug = \"shop\"\nname = \"Shop\"\n[[routes]]\nmethod = \"GET\"\npath = \"/\"\nscript = \"a\"\nverb = 1\n";
        let problem = parse(text).unwrap_err();
        assert_eq!(problem.line, Some(7), "{problem}");
        assert!(problem.message.contains("verb"), "{problem}");
    }

    #[test]
    fn rendering_round_trips() {
        let manifest = parse(EXAMPLE).unwrap().for_target("shop");
        let text = manifest.render();
        let again = parse(&text).unwrap().render();
        assert_eq!(text, again);
        assert!(text.contains("[[scripts]]"), "{text}");
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_column("x", 0), (1, 1));
    }

    #[test]
    fn the_committed_schema_is_current() {
        let committed: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/manifest.schema.json"))
                .expect("docs/manifest.schema.json is JSON");
        assert!(
            committed == schema(),
            "docs/manifest.schema.json is stale: run `picloud manifest-schema > docs/manifest.schema.json`"
        );
    }
}
