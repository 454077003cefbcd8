//! `crypto::`: hashing and message authentication for scripts, computed in
//! the guest. They touch nothing outside the sandbox, so they are not WIT
//! imports: the work runs as the guest's own instructions and costs fuel
//! like any other (about 80 units a byte: a 1 MiB body takes some 80
//! million of the default 400 million).
//!
//! Webhook senders (GitHub, Stripe, Slack…) sign the body with HMAC-SHA256
//! under a shared secret; a script checks it with
//! `crypto::timing_safe_equal(crypto::hmac_sha256(secret, body), signature)`.

use hmac::{Hmac, Mac};
use rhai::{Blob, Dynamic, EvalAltResult, FuncRegistration, ImmutableString, Module, Position};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type Result<T> = std::result::Result<T, Box<EvalAltResult>>;

/// The bytes of a string (UTF-8) or a blob; anything else is an error that
/// names the function and the argument.
fn bytes(function: &str, argument: &str, value: &Dynamic, at: Position) -> Result<Vec<u8>> {
    if let Some(text) = value.read_lock::<ImmutableString>() {
        return Ok(text.as_bytes().to_vec());
    }
    if let Some(blob) = value.read_lock::<Blob>() {
        return Ok(blob.to_vec());
    }
    Err(EvalAltResult::ErrorRuntime(
        format!(
            "crypto::{function}: {argument} must be a string or a blob, not a {}",
            value.type_name()
        )
        .into(),
        at,
    )
    .into())
}

/// Lower-case hexadecimal, the form signature headers use.
fn hex(digest: &[u8]) -> ImmutableString {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out.into()
}

pub(crate) fn crypto_module() -> Module {
    let mut m = Module::new();
    FuncRegistration::new("sha256").set_into_module(
        &mut m,
        |ctx: rhai::NativeCallContext<'_>, data: Dynamic| -> Result<ImmutableString> {
            let data = bytes("sha256", "data", &data, ctx.call_position())?;
            Ok(hex(&Sha256::digest(&data)))
        },
    );
    FuncRegistration::new("hmac_sha256").set_into_module(
        &mut m,
        |ctx: rhai::NativeCallContext<'_>,
         key: Dynamic,
         data: Dynamic|
         -> Result<ImmutableString> {
            let at = ctx.call_position();
            let key = bytes("hmac_sha256", "key", &key, at)?;
            let data = bytes("hmac_sha256", "data", &data, at)?;
            // HMAC takes a key of any length (longer ones are hashed first).
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
            mac.update(&data);
            Ok(hex(&mac.finalize().into_bytes()))
        },
    );
    // Comparing a computed signature with `==` stops at the first differing
    // byte, and the time that takes tells an attacker how much of a forged
    // signature was right.
    FuncRegistration::new("timing_safe_equal").set_into_module(
        &mut m,
        |ctx: rhai::NativeCallContext<'_>, a: Dynamic, b: Dynamic| -> Result<bool> {
            let at = ctx.call_position();
            let a = bytes("timing_safe_equal", "a", &a, at)?;
            let b = bytes("timing_safe_equal", "b", &b, at)?;
            Ok(a.len() == b.len() && bool::from(a.ct_eq(&b)))
        },
    );
    m
}

#[cfg(test)]
mod tests {
    use super::hex;
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};

    #[test]
    fn digests_match_published_test_vectors() {
        // FIPS 180-2, "abc".
        assert_eq!(
            hex(&Sha256::digest(b"abc")).as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        // RFC 4231, test case 2.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex(&mac.finalize().into_bytes()).as_str(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
