//! What the scenarios share: the proxy started in-process, execution clients to put behind it,
//! the real binaries as child processes, and the request shapes.

pub mod ethereumjs;
pub mod mock_els;
pub mod processes;
pub mod relay;
pub mod scripted_el;
pub mod shapes;
