//! Fuzz target: `entra_token::fuzzing::jwt_decode` (see src/fuzzing.rs for what it feeds and checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = entra_token::fuzzing::jwt_decode(data);
});
