fn main() {
    std::process::exit(mountd::main(std::env::args_os().collect()));
}
