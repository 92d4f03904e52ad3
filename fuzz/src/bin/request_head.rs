fn main() {
    afl::fuzz!(|data: &[u8]| {
        eb_fuzz::request_head(data);
    });
}
