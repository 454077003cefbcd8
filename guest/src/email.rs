//! Mail: `email::send(#{ … })` out through the host's outbox, and the
//! parsed message an email trigger's script reads as `request.email`.

use base64::Engine as _;
use rhai::{
    Array, Dynamic, EvalAltResult, FuncRegistration, ImmutableString, Map, Module, Position,
};

use crate::picloud::platform::email::{self, Outgoing};

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

const FIELDS: &str = "to, cc, from, reply_to, subject, text, html";

fn raise(at: Position, message: String) -> Box<EvalAltResult> {
    EvalAltResult::ErrorRuntime(format!("email::send: {message}").into(), at).into()
}

/// An optional string field.
fn text(at: Position, message: &Map, field: &str) -> Result<Option<String>> {
    match message.get(field) {
        None => Ok(None),
        Some(value) if value.is_unit() => Ok(None),
        Some(value) if value.is_string() => Ok(Some(value.to_string())),
        Some(value) => Err(raise(
            at,
            format!("{field} must be a string, not a {}", value.type_name()),
        )),
    }
}

/// `to` and `cc`: one address or an array of them.
fn addresses(at: Position, message: &Map, field: &str) -> Result<Vec<String>> {
    let Some(value) = message.get(field).filter(|v| !v.is_unit()) else {
        return Ok(Vec::new());
    };
    if value.is_string() {
        return Ok(vec![value.to_string()]);
    }
    let not_addresses = || {
        raise(
            at,
            format!("{field} must be an address or an array of addresses (strings)"),
        )
    };
    let array = value.read_lock::<Array>().ok_or_else(not_addresses)?;
    array
        .iter()
        .map(|a| {
            a.is_string()
                .then(|| a.to_string())
                .ok_or_else(not_addresses)
        })
        .collect()
}

/// `email::send(#{ to, subject, text, html, reply_to, cc, from })`: checks
/// the message and stores it for delivery after the script returns; the
/// message id. The host refuses a sender outside the app's domains.
pub(crate) fn email_module() -> Module {
    let mut m = Module::new();
    FuncRegistration::new("send").set_into_module(
        &mut m,
        |ctx: rhai::NativeCallContext<'_>, message: Map| -> Result<Dynamic> {
            let at = ctx.call_position();
            if let Some(unknown) = message
                .keys()
                .find(|k| !FIELDS.split(", ").any(|f| f == k.as_str()))
            {
                return Err(raise(
                    at,
                    format!("unknown field '{unknown}': the fields are {FIELDS}"),
                ));
            }
            let outgoing = Outgoing {
                from: text(at, &message, "from")?,
                to: addresses(at, &message, "to")?,
                cc: addresses(at, &message, "cc")?,
                reply_to: text(at, &message, "reply_to")?,
                subject: text(at, &message, "subject")?.unwrap_or_default(),
                text: text(at, &message, "text")?,
                html: text(at, &message, "html")?,
            };
            let id = email::send(&outgoing).map_err(|e| raise(at, e.message))?;
            Ok(ImmutableString::from(id).into())
        },
    );
    m
}

/// The message an email trigger's run carries (its JSON body, written by
/// the manager's SMTP listener) as `request.email`: attachments' contents
/// become blobs.
pub(crate) fn inbound(body: &str) -> Dynamic {
    let Ok(parsed) = crate::convert::parse_json(body) else {
        return Dynamic::UNIT;
    };
    let Some(mut message) = parsed.try_cast::<Map>() else {
        return Dynamic::UNIT;
    };
    if let Some(attachments) = message.get_mut("attachments")
        && let Some(mut list) = attachments.write_lock::<Array>()
    {
        for attachment in list.iter_mut() {
            if let Some(mut fields) = attachment.write_lock::<Map>()
                && let Some(encoded) = fields.remove("content_base64")
            {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(encoded.to_string())
                    .unwrap_or_default();
                fields.insert("content".into(), Dynamic::from_blob(bytes));
            }
        }
    }
    message.into()
}
