fn main() {
    afl::fuzz!(|data: &[u8]| {
        eb_fuzz::el_answer(data);
    });
}
