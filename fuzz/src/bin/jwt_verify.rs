fn main() {
    afl::fuzz!(|data: &[u8]| {
        eb_fuzz::jwt_verify(data);
    });
}
