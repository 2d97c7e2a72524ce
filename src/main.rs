fn main() -> std::process::ExitCode {
    yieldlake::cli::main()
}
