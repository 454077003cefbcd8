//! The smallest wasi:http handler: every request gets `200 Hello, World!`,
//! the bytes PiCloud's seeded Hello World answers. `wasmtime serve`
//! instantiates it afresh for every request, as PiCloud does its guest.

use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

const BODY: &[u8] = b"Hello, World!";

struct Hello;

impl wasi::exports::http::incoming_handler::Guest for Hello {
    fn handle(_request: IncomingRequest, out: ResponseOutparam) {
        // A length, so the answer is not chunked: the same framing as the
        // other servers in the comparison.
        let headers = Fields::from_list(&[
            ("content-type".into(), b"text/plain; charset=utf-8".to_vec()),
            ("content-length".into(), BODY.len().to_string().into_bytes()),
        ])
        .expect("valid headers");
        let response = OutgoingResponse::new(headers);
        let body = response.body().expect("the body, taken once");
        ResponseOutparam::set(out, Ok(response));
        let stream = body.write().expect("the body's stream, taken once");
        stream
            .blocking_write_and_flush(BODY)
            .expect("the body is written");
        drop(stream);
        OutgoingBody::finish(body, None).expect("the body is finished");
    }
}

wasi::http::proxy::export!(Hello);
