fn main() {
    afl::fuzz!(|data: &[u8]| {
        eb_fuzz::rpc_parse(data);
    });
}
