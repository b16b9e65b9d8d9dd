//! `cli_command`: a plain command. It exports `wasi:cli/run` and no
//! `wasi:http/incoming-handler`, so the host must refuse it at load time.

fn main() {
    println!("hello from a command");
}
