fn main() {
    afl::fuzz!(|data: &[u8]| {
        eb_fuzz::nodes_parse(data);
    });
}
