//! Fuzz target: `entra_token::fuzzing::server_text` (see src/fuzzing.rs for what it feeds and checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = entra_token::fuzzing::server_text(data);
});
