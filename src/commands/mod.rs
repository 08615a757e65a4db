//! One module per subcommand, each with a `run` that `main` dispatches to.

pub mod serve;
